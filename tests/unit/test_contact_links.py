"""Crisis and clinic contacts become tap-to-call and tap-to-text links; the text stays as typed
and nothing the clinic typed can inject markup."""

from clients.models import DEFAULT_CRISIS_CONTACTS
from clients.templatetags.contact_links import contacts_linked, dial_string, tel_href


def test_every_number_in_the_default_contacts_can_be_tapped():
    html = contacts_linked(DEFAULT_CRISIS_CONTACTS)
    for href in ['"tel:999"', '"tel:116123"', '"tel:111"', '"sms:85258?body=SHOUT"']:
        assert f"href={href}" in html
    assert 'class="contact-link">text SHOUT to 85258</a>' in html
    assert html.count("<br>") == DEFAULT_CRISIS_CONTACTS.count("\n")


def test_two_digits_are_not_a_phone_number():
    assert "<a" not in contacts_linked("Open 24 hours, 7 days")


def test_an_international_number_keeps_its_plus():
    assert dial_string("+44 20 7946 0000") == "+442079460000"
    assert tel_href("0100 111-2222") == "tel:01001112222"


def test_the_clinics_text_is_escaped():
    html = contacts_linked('<script>alert(1)</script> call "999" & A&E')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&amp; A&amp;E" in html and 'href="tel:999"' in html
