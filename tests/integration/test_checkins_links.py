"""The client's link pages over HTTP: headers, GET changes nothing, one friendly page per failure,
the form keeps answers, double submits store one response, the rate limit, broker down, and the
staff entry page's scope."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from checkins.services import client_opt_out
from clients import checkins
from clients.models import CheckIn, CheckInKind, CheckInStatus, TreatmentSession
from messaging.models import OutboundEmail
from outcomes.models import Administration, Alert, AlertRule, ResponseSource
from tests.checkin_support import PHQ9_CALM, form_post, key_from, open_checkin, start_plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords_and_fresh_rate_limit(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()


def form_url(key):
    return reverse("checkin:form", kwargs={"key": key})


def done_url(key):
    return reverse("checkin:done", kwargs={"key": key})


def snapshot(checkin):
    checkin.refresh_from_db()
    return (
        checkin.status,
        checkin.completed_at,
        checkin.key_hash,
        checkin.reminded_at,
        Administration.objects.count(),
    )


def test_opening_the_link_shows_the_form_and_changes_nothing(client, cast):
    checkin, key = open_checkin(cast.episode)
    before = snapshot(checkin)
    response = client.get(form_url(key))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Part 1 of 2" in page and "Part 2 of 2" in page
    assert (
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
        in page
    )
    assert cast.client.label not in page
    assert snapshot(checkin) == before


def test_link_pages_are_not_cached_not_indexed_and_send_no_referrer(client, cast):
    checkin, key = open_checkin(cast.episode)
    for url in [form_url(key), form_url("x" * 40), checkins.opt_out_url(cast.client)]:
        response = client.get(url.replace("http://127.0.0.1:8000", ""))
        assert "no-store" in response["Cache-Control"], url
        assert response["Referrer-Policy"] == "no-referrer"
        assert "noindex" in response["X-Robots-Tag"]
        assert '<meta name="robots" content="noindex' in response.content.decode()


def test_a_valid_submission_redirects_to_a_warm_thank_you_page(client, cast):
    checkin, key = open_checkin(cast.episode)
    response = client.post(form_url(key), form_post())
    assert response.status_code == 302 and response["Location"] == done_url(key)
    page = client.get(done_url(key)).content.decode()
    assert "Thank you for your answers" in page
    assert "Feeling worse for a while during therapy is common" in page
    assert "two or three days" in page
    assert "Please look after yourself right now" not in page
    assert Administration.objects.filter(checkin=checkin).count() == 2


def test_an_endorsed_risk_item_shows_the_clinics_crisis_contacts_prominently(client, cast):
    cast.clinic.crisis_contacts = "Riverside duty line: 0100 000 0000"
    cast.clinic.save()
    checkin, key = open_checkin(cast.episode)
    phq9 = [0, 0, 0, 0, 0, 0, 0, 0, 2, 0]
    client.post(form_url(key), form_post(phq9=phq9))
    page = client.get(done_url(key)).content.decode()
    crisis = page.index('class="crisis"')
    assert page.index('Riverside duty line: <a href="tel:01000000000"') > crisis
    assert crisis < page.index("Thank you for your answers")
    assert Alert.objects.filter(episode=cast.episode, rule=AlertRule.RISK_ITEM).exists()


def test_asking_to_be_contacted_reaches_the_therapist_as_an_alert(client, cast):
    checkin, key = open_checkin(cast.episode)
    client.post(form_url(key), form_post(contact=True))
    alert = Alert.objects.get(rule=AlertRule.CONTACT_REQUEST)
    assert alert.trigger == f"checkin:{checkin.pk}" and alert.episode == cast.episode
    assert "let your therapist know" in client.get(done_url(key)).content.decode()


def test_a_missing_answer_keeps_the_others_and_shows_the_error_next_to_the_item(client, cast):
    checkin, key = open_checkin(cast.episode)
    phq9 = [3, 2, 1, None, 0, 1, 2, 0, 0, None]
    response = client.post(form_url(key), form_post(phq9=phq9, contact=True))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Some answers are missing" in page
    question = page[page.index('id="q-phq9-4"') : page.index('id="q-phq9-5"')]
    assert "Please choose an answer to this question." in question
    assert 'aria-describedby="err-phq9-4' in page[page.index('id="q-phq9-4"') - 200 :]
    for number, value in [(1, 3), (2, 2), (3, 1), (7, 2)]:
        assert re.search(rf'name="phq9-{number}" value="{value}"[^>]*checked', page), number
    assert re.search(r'name="contact_request"[^>]*checked', page)
    # Item 10 is not scored: it may be left empty.
    assert "err-phq9-10" not in page
    assert not Administration.objects.exists()


def test_the_form_posts_with_the_origin_a_no_referrer_page_sends(cast):
    # Browsers send "Origin: null" from a page with Referrer-Policy: no-referrer; the key in the
    # URL is the credential, so the link pages do not depend on Django's CSRF origin check.
    from django.test import Client

    checkin, key = open_checkin(cast.episode)
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(form_url(key), form_post(), HTTP_ORIGIN="null")
    assert response.status_code == 302
    assert Administration.objects.filter(checkin=checkin).count() == 2


def test_a_double_submit_stores_one_response_and_says_already_received(client, cast):
    checkin, key = open_checkin(cast.episode)
    first = client.post(form_url(key), form_post())
    second = client.post(form_url(key), form_post(phq9=[3] * 10))  # back button, new answers
    assert first.status_code == 302
    assert second.status_code == 200
    assert "already received your answers" in second.content.decode()
    assert Administration.objects.filter(checkin=checkin).count() == 2
    assert set(Administration.objects.values_list("total", flat=True)) != {27}


def test_each_failure_has_its_own_page_and_leaks_nothing(client, cast):
    checkin, key = open_checkin(cast.episode)
    pages = {}
    pages["unknown"] = client.get(form_url(key[:-3] + "abc"))
    with time_machine.travel(checkin.expires_at + timedelta(minutes=1)):
        pages["expired"] = client.get(form_url(key))
    client.post(form_url(key), form_post())
    pages["used"] = client.get(form_url(key))

    expected = {
        "unknown": (404, "We don't recognise this link"),
        "expired": (410, "This check-in has closed"),
        "used": (200, "We have already received your answers"),
    }
    for name, (status, heading) in expected.items():
        response = pages[name]
        page = response.content.decode()
        assert response.status_code == status, name
        assert heading in page, name
        assert cast.client.label not in page and cast.client.email not in page
        assert "phq" not in page.lower() and 'name="phq9-1"' not in page
    assert cast.clinic.name not in pages["unknown"].content.decode()


def fieldset_of(page: str, name: str) -> str:
    start = page.index(f'id="q-{name}"')
    return page[page.rindex("<fieldset", 0, start) : page.index("</fieldset>", start)]


def described_by(page: str, name: str) -> list[str]:
    return re.search(r'aria-describedby="([^"]*)"', fieldset_of(page, name)).group(1).split()


def element_text(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return re.sub(r"<[^>]+>", "", page[page.index(">", start) + 1 : page.index("</", start)])


def test_every_question_carries_its_time_frame_in_its_accessible_description(client, cast):
    checkin, key = open_checkin(cast.episode)
    page = client.get(form_url(key)).content.decode()
    for name, time_frame in [
        ("phq9-1", "Over the last 2 weeks"),
        ("gad7-7", "Over the last 2 weeks"),
    ]:
        descriptions = " ".join(element_text(page, ref) for ref in described_by(page, name))
        assert time_frame in descriptions, name
    # Next to an error, the error comes first.
    page = client.post(form_url(key), form_post(phq9=[None, *PHQ9_CALM[1:]])).content.decode()
    refs = described_by(page, "phq9-1")
    assert refs[0] == "err-phq9-1"
    assert "Over the last 2 weeks" in element_text(page, refs[1])


@pytest.mark.parametrize("tampered", ["7", "-1", "abc", "1.5"])
def test_a_value_the_form_never_offered_is_not_one_of_the_choices_not_missing(
    client, cast, tampered
):
    checkin, key = open_checkin(cast.episode)
    data = form_post()
    data["phq9-3"] = tampered
    response = client.post(form_url(key), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "That answer is not one of the choices" in fieldset_of(page, "phq9-3")
    assert "Some answers are missing" not in page
    assert "Please check your answers" in page
    assert not Administration.objects.exists()


def test_the_session_rating_names_the_sessions_date_not_today(client, cast):
    start_plan(cast.episode)
    # Monday 7 December 2026, 18:00 in London: rated the next day, "today" would be wrong.
    session_at = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    with time_machine.travel(session_at + timedelta(hours=20), tick=False):
        TreatmentSession.objects.create(episode=cast.episode, starts_at=session_at, attended=True)
        checkins.checkins_sweep()
        mail = OutboundEmail.objects.filter(purpose="checkin").latest("pk")
        rating = CheckIn.objects.get(kind=CheckInKind.SESSION_RATING)
        assert rating.instruments == ["session_rating"]
        page = client.get(form_url(key_from(mail))).content.decode()
    assert "Please rate your session on Monday 7 December" in page
    assert "today's session" not in page
    assert "stem-1" in described_by(page, "session_rating-1")


def test_an_opted_out_clients_link_says_so(client, cast):
    checkin, key = open_checkin(cast.episode)
    client_opt_out(client=cast.client)
    response = client.get(form_url(key))
    assert "You have switched off check-in e-mails" in response.content.decode()
    response = client.post(form_url(key), form_post())
    assert not Administration.objects.exists()


def test_a_mail_clients_one_click_unsubscribe_opts_out_without_a_confirmation_page(client, cast):
    """RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the List-Unsubscribe URL,
    without cookies and without showing the client any page."""
    checkin, key = open_checkin(cast.episode)
    url = checkins.opt_out_url(cast.client).replace("http://127.0.0.1:8000", "")
    assert client.head(url).status_code in (200, 405)
    cast.client.refresh_from_db()
    assert cast.client.opted_out_at is None  # a scanner's GET or HEAD changes nothing
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    cast.client.refresh_from_db()
    assert cast.client.opted_out_at is not None
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.CANCELLED
    # A second click (or a retry by the mail provider) is harmless.
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200


def test_an_opt_out_link_from_an_old_mail_still_opts_out(client, cast):
    from django.core import signing

    legacy = signing.dumps(cast.client.pk, salt=checkins.OPT_OUT_SALT)
    url = reverse("checkin:opt_out", kwargs={"token": legacy})
    assert "Stop check-in e-mails?" in client.get(url).content.decode()
    client.post(url)
    cast.client.refresh_from_db()
    assert cast.client.opted_out_at is not None


def test_an_unknown_opt_out_token_gets_the_friendly_not_found_page(client, cast):
    for token in ["A" * 32, "not-a-token", "MQ:1tXyZ:abcdefghijklmnop"]:
        response = client.post(reverse("checkin:opt_out", kwargs={"token": token}))
        assert response.status_code == 404
        assert "We don't recognise this link" in response.content.decode()
    cast.client.refresh_from_db()
    assert cast.client.opted_out_at is None


def test_a_closed_checkin_says_it_is_no_longer_needed(client, cast):
    checkin, key = open_checkin(cast.episode)
    checkins.plan_end_for_episode(episode=cast.episode)
    response = client.get(form_url(key))
    assert response.status_code == 410
    assert "no longer needed" in response.content.decode()


def test_the_thank_you_page_is_not_shown_long_after(client, cast):
    checkin, key = open_checkin(cast.episode)
    client.post(form_url(key), form_post(phq9=[0, 0, 0, 0, 0, 0, 0, 0, 1, 0]))
    with time_machine.travel(checkin.expires_at):
        page = client.get(done_url(key)).content.decode()
    assert "already received" in page and 'class="crisis"' not in page


def test_the_opt_out_link_asks_on_get_and_acts_only_on_post(client, cast):
    checkin, key = open_checkin(cast.episode)
    url = checkins.opt_out_url(cast.client).replace("http://127.0.0.1:8000", "")
    confirm = client.get(url)
    assert "Stop check-in e-mails?" in confirm.content.decode()
    cast.client.refresh_from_db()
    assert cast.client.opted_out_at is None
    done = client.post(url)
    assert "You will not receive more check-in e-mails" in done.content.decode()
    cast.client.refresh_from_db()
    assert cast.client.opted_out_at is not None
    tampered = client.get(url[:-3] + "zz/")
    assert tampered.status_code == 404
    assert "We don't recognise this link" in tampered.content.decode()


@override_settings(CHECKIN_RATE_LIMIT_REQUESTS=3, CHECKIN_RATE_LIMIT_WINDOW=600)
def test_link_pages_are_rate_limited_per_ip(client, cast):
    statuses = [client.get(form_url("y" * 40)).status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    other_ip = client.get(form_url("y" * 40), REMOTE_ADDR="10.9.8.7")
    assert other_ip.status_code == 404


@override_settings(CHECKIN_RATE_LIMIT_REQUESTS=3, CHECKIN_RATE_LIMIT_WINDOW=600)
def test_a_risky_answer_from_a_busy_shared_ip_is_stored_and_alerts_after_the_limit(client, cast):
    # A clinic's Wi-Fi or a carrier's NAT: others behind the address have used up the limit.
    checkin, key = open_checkin(cast.episode)
    assert [client.get(form_url("y" * 40)).status_code for _ in range(4)][-1] == 429
    for _ in range(5):  # opening a valid link does not count, however often
        assert client.get(form_url(key)).status_code == 200
    phq9 = [2, 2, 2, 2, 2, 2, 2, 2, 3, 1]
    response = client.post(form_url(key), form_post(phq9=phq9))
    assert response.status_code == 302 and response["Location"] == done_url(key)
    assert Administration.objects.filter(checkin=checkin).count() == 2
    alert = Alert.objects.get(episode=cast.episode, rule=AlertRule.RISK_ITEM)
    assert alert.severity == "urgent"
    assert 'class="crisis"' in client.get(done_url(key)).content.decode()


@override_settings(
    CHECKIN_RATE_LIMIT_REQUESTS=1,
    CHECKIN_RATE_LIMIT_WINDOW=600,
    EMERGENCY_CONTACTS="Installation emergency line: 0300 000 0000",
)
def test_a_rate_limited_page_still_shows_crisis_contacts(client, cast):
    cast.clinic.crisis_contacts = "Riverside duty line: 0100 000 0000"
    cast.clinic.save()
    checkin, key = open_checkin(cast.episode)
    client.post(form_url(key), form_post())
    client.get(form_url("y" * 40))
    unknown = client.get(form_url("y" * 40))
    used = client.get(form_url(key))  # a real key: the page may name the clinic
    assert unknown.status_code == used.status_code == 429
    assert 'href="tel:03000000000"' in unknown.content.decode()
    assert cast.clinic.name not in unknown.content.decode()
    assert 'href="tel:01000000000"' in used.content.decode()


def test_the_thank_you_page_naming_a_risk_answer_is_only_for_the_browser_that_sent_it(client, cast):
    from django.test import Client

    checkin, key = open_checkin(cast.episode)
    response = client.post(form_url(key), form_post(phq9=[0, 0, 0, 0, 0, 0, 0, 0, 2, 0]))
    cookie = response.cookies["checkin_sent"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["max-age"] == 2 * 60 * 60 and cookie["path"] == done_url(key)

    sender = client.get(done_url(key)).content.decode()
    assert 'class="crisis"' in sender and "thoughts of being better off dead" in sender
    # Someone else with the URL (a shared phone's history, a forwarded link).
    other = Client().get(done_url(key))
    page = other.content.decode()
    assert other.status_code == 200 and "already received your answers" in page
    assert 'class="crisis"' not in page and "better off dead" not in page
    assert cast.clinic.name in page and 'href="tel:' in page  # still the clinic's contacts
    forged = Client()
    forged.cookies["checkin_sent"] = str(checkin.pk)
    assert 'class="crisis"' not in forged.get(done_url(key)).content.decode()


def test_after_a_risk_answer_the_thank_you_page_gives_no_bad_week_tips(client, cast):
    checkin, key = open_checkin(cast.episode)
    client.post(form_url(key), form_post(phq9=[0, 0, 0, 0, 0, 0, 0, 0, 1, 0]))
    page = client.get(done_url(key)).content.decode()
    assert 'class="crisis"' in page
    assert "A few things that can help right now" not in page
    assert "Feeling worse for a while during therapy is common" not in page


def test_every_client_page_says_how_to_reach_the_clinic(client, cast):
    cast.clinic.contact_phone = "0100 111 2222"
    cast.clinic.contact_email = "hello@riverside.example"
    cast.clinic.contact_hours = "Monday to Friday, 9am to 5pm"
    cast.clinic.save()
    checkin, key = open_checkin(cast.episode)
    pages = {"form": client.get(form_url(key))}
    with time_machine.travel(checkin.expires_at + timedelta(minutes=1)):
        pages["expired"] = client.get(form_url(key))
    client.post(form_url(key), form_post())
    pages["thank you"] = client.get(done_url(key))
    pages["used"] = client.get(form_url(key))
    pages["opt out"] = client.get(
        checkins.opt_out_url(cast.client).replace("http://127.0.0.1:8000", "")
    )
    for name, response in pages.items():
        page = response.content.decode()
        assert 'href="tel:01001112222"' in page, name
        assert 'href="mailto:hello@riverside.example"' in page, name
        assert "Monday to Friday, 9am to 5pm" in page, name
        assert 'href="tel:116123"' in page, name  # the crisis contacts, tap to call


def test_with_the_broker_down_the_answers_are_saved_and_the_client_is_thanked(
    client, cast, broker_down, django_capture_on_commit_callbacks, caplog
):
    checkin, key = open_checkin(cast.episode)
    phq9 = [2, 2, 2, 2, 2, 2, 2, 2, 1, 0]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(form_url(key), form_post(phq9=phq9), follow=True)
    assert callbacks, "the evaluation task was attempted after commit"
    assert "could not queue outcomes.tasks.evaluate_episode (OperationalError)" in caplog.text
    assert response.status_code == 200
    assert "Thank you for your answers" in response.content.decode()
    stored = Administration.objects.filter(checkin=checkin)
    assert stored.count() == 2
    # The risk alert never waits for the broker; the rest is computed by the next sweep.
    assert Alert.objects.filter(rule=AlertRule.RISK_ITEM, episode=cast.episode).exists()
    cast.episode.refresh_from_db()
    assert cast.episode.rules_pending_since is not None  # the forms wait for an evaluation
    from outcomes.tasks import evaluate_episode

    evaluate_episode.run(cast.episode.pk)
    cast.episode.refresh_from_db()
    assert cast.episode.rules_pending_since is None


# --- Staff entry page ---------------------------------------------------------------------------


def enter_url(episode):
    return reverse("clients:episode_enter", kwargs={"episode_id": episode.pk})


def test_a_therapist_enters_a_paper_phq9_from_their_clients_page(client, cast):
    client.force_login(cast.therapist)
    page = client.get(enter_url(cast.episode) + "?instrument=phq9")
    assert page.status_code == 200 and "Over the last 2 weeks" in page.content.decode()
    on_paper = (cast.episode.started_on + timedelta(days=3)).isoformat()
    data = form_post(phq9=[1] * 9 + [None], gad7=None)
    data.update({"instrument": "phq9", "source": "paper", "administered_on": on_paper})
    response = client.post(enter_url(cast.episode), data, follow=True)
    assert "saved (total 9)" in response.content.decode()
    administration = Administration.objects.get(episode=cast.episode)
    assert administration.source == ResponseSource.PAPER
    assert administration.entered_by == cast.therapist
    assert administration.administered_at.date().isoformat() == on_paper


def test_staff_entry_refuses_a_date_before_the_episode_began_as_the_api_does(client, cast):
    client.force_login(cast.therapist)
    before = (cast.episode.started_on - timedelta(days=1)).isoformat()
    data = form_post(phq9=[1] * 9 + [None], gad7=None)
    data.update({"instrument": "phq9", "source": "paper", "administered_on": before})
    response = client.post(enter_url(cast.episode), data)
    assert "before the episode began" in response.content.decode()
    assert not Administration.objects.filter(episode=cast.episode).exists()


def test_staff_entry_shows_why_a_form_with_too_many_gaps_cannot_be_scored(client, cast):
    client.force_login(cast.therapist)
    data = form_post(phq9=[1] * 7 + [None, None, None], gad7=None)
    data.update({"instrument": "phq9", "source": "in_session", "administered_on": "2026-01-05"})
    response = client.post(enter_url(cast.episode), data)
    assert "2 of 9 scored items are unanswered" in response.content.decode()
    assert not Administration.objects.exists()


def test_staff_entry_is_scoped_like_every_client_page(client, cast):
    for user, status in [
        (cast.therapist, 200),
        (cast.supervisor, 200),
        (cast.admin, 200),
        (cast.other_therapist, 404),
        (cast.outsider, 404),
    ]:
        client.force_login(user)
        assert client.get(enter_url(cast.episode)).status_code == status, user
    client.logout()
    assert client.get(enter_url(cast.episode)).status_code == 302
    assert CheckIn.objects.filter(status=CheckInStatus.COMPLETED).count() == 0


def test_a_risk_answer_on_an_unfinished_form_alerts_at_once_and_shows_crisis_contacts(client, cast):
    cast.clinic.crisis_contacts = "Riverside duty line: 0100 000 0000"
    cast.clinic.save()
    checkin, key = open_checkin(cast.episode)
    phq9 = [1, None, None, 1, 1, 1, 1, 1, 3, None]
    for _ in range(2):  # the client tries again without finishing: still one alert
        page = client.post(form_url(key), form_post(phq9=phq9)).content.decode()
        assert "Some answers are missing" in page
        crisis = page.index('class="crisis"')
        assert crisis < page.index('Riverside duty line: <a href="tel:01000000000"')
    alert = Alert.objects.get(episode=cast.episode, rule=AlertRule.RISK_ITEM)
    assert alert.severity == "urgent" and alert.administration is None
    assert not Administration.objects.exists()
    checkin.refresh_from_db()
    assert checkin.status == CheckInStatus.PENDING

    finished = [1, 0, 0, 1, 1, 1, 1, 1, 3, None]
    response = client.post(form_url(key), form_post(phq9=finished))
    assert response.status_code == 302
    administration = Administration.objects.get(checkin=checkin, instrument="phq9")
    alert.refresh_from_db()
    assert Alert.objects.filter(rule=AlertRule.RISK_ITEM).count() == 1  # taken over, not doubled
    assert alert.administration == administration
    assert alert.trigger == f"adm:{administration.pk}"
    assert "not finished" not in alert.message  # the text follows the form


def test_a_risk_answer_taken_back_on_the_finished_form_keeps_its_alert_and_says_so(client, cast):
    checkin, key = open_checkin(cast.episode)
    client.post(form_url(key), form_post(phq9=[1, None, None, 1, 1, 1, 1, 1, 3, None]))
    finished = [1, 0, 0, 1, 1, 1, 1, 1, 0, None]
    assert client.post(form_url(key), form_post(phq9=finished)).status_code == 302
    alert = Alert.objects.get(episode=cast.episode, rule=AlertRule.RISK_ITEM)
    assert alert.severity == "urgent"
    assert "earlier, unfinished attempt" in alert.message and "does not endorse" in alert.message


def test_an_unfinished_form_without_risk_raises_nothing_but_a_contact_request(client, cast):
    checkin, key = open_checkin(cast.episode)
    phq9 = [1, None, None, 1, 1, 1, 1, 1, 0, None]
    page = client.post(form_url(key), form_post(phq9=phq9)).content.decode()
    assert 'class="crisis"' not in page
    assert not Alert.objects.exists()
    client.post(form_url(key), form_post(phq9=phq9, contact=True))
    assert list(Alert.objects.values_list("rule", flat=True)) == [AlertRule.CONTACT_REQUEST]


def test_staff_enter_a_session_rating_to_one_decimal_and_an_empty_mark_is_not_answered(
    client, cast
):
    client.force_login(cast.therapist)
    page = client.get(enter_url(cast.episode) + "?instrument=session_rating").content.decode()
    assert 'type="range"' in page and 'step="0.1"' in page and "not answered" in page
    assert "js/visual_analogue.js" in page
    data = form_post(phq9=None, gad7=None, session_rating=[8.6, 8.6, 8.6, 9.6])
    data.update({"instrument": "session_rating", "source": "in_session"})
    data["administered_on"] = cast.episode.started_on.isoformat()
    response = client.post(enter_url(cast.episode), data, follow=True)
    assert "saved (total 35.4)" in response.content.decode()
    assert Administration.objects.get(episode=cast.episode).answers == [8.6, 8.6, 8.6, 9.6]

    # No mark on an item: not answered, so the form cannot be scored (no proration for VAS).
    data = form_post(phq9=None, gad7=None, session_rating=[8.6, 8.6, 8.6, None])
    data.update({"instrument": "session_rating", "source": "in_session"})
    data["administered_on"] = cast.episode.started_on.isoformat()
    response = client.post(enter_url(cast.episode), data)
    assert "1 of 4 scored items are unanswered" in response.content.decode()


def test_a_submitted_checkin_queues_one_evaluation_not_one_per_form(
    client, cast, monkeypatch, django_capture_on_commit_callbacks
):
    from outcomes.tasks import evaluate_episode

    queued = []
    monkeypatch.setattr(
        evaluate_episode, "apply_async", lambda args=(), kwargs=None: queued.append(args)
    )
    checkin, key = open_checkin(cast.episode)
    assert len(checkin.instruments) == 2
    with django_capture_on_commit_callbacks(execute=True):
        client.post(form_url(key), form_post())
    assert Administration.objects.filter(checkin=checkin).count() == 2
    assert queued == [(cast.episode.pk,)]
