"""The client's path end to end: a real SMTP server receives the e-mail, the link is opened in
headless Chromium at a phone-sized viewport, the form is filled by touch and keyboard, and
exactly one response is stored."""

import email
import re
import socket
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from clients.checkins import checkins_sweep
from clients.models import CheckIn, CheckInKind, CheckInStatus, TreatmentSession
from messaging.services import mail_due_ids, mail_send
from outcomes.models import Administration
from tests.checkin_support import start_plan

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"(https?://\S+/c/[A-Za-z0-9_-]{20,}/)")


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


@pytest.fixture
def smtp_inbox(live_server):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        SITE_URL=live_server.url,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    ):
        yield inbox
    controller.stop()


def send_outbox() -> int:
    return sum(mail_send(mail_id=mail_id) for mail_id in mail_due_ids())


def link_in(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return LINK.search(text).group(1)


@pytest.fixture
def episode(db):
    from tests.factories import make_client, make_clinic, make_episode, make_staff

    clinic = make_clinic("Riverside Therapies")
    therapist = make_staff(clinic, username="dr_lee")
    client = make_client(clinic, label="C-0042", name="Ada Example", email="ada@example.org")
    return make_episode(client, therapist)


def answer(page, name: str, label: str) -> None:
    page.locator(f"#q-{name}").get_by_text(label, exact=True).tap()


def test_a_client_opens_the_emailed_link_on_a_phone_and_submits_once(
    episode, smtp_inbox, phone_page, screenshot
):
    start_plan(episode)
    assert checkins_sweep()["sent"] == 1
    assert send_outbox() == 1

    assert len(smtp_inbox.messages) == 1
    message = smtp_inbox.messages[0]
    assert message["To"] == "ada@example.org"
    assert "Riverside Therapies" in message["Subject"]
    assert message.get_body(preferencelist=("html",)) is not None
    link = link_in(message)

    page = phone_page
    page.goto(link)
    # A second tab with the same link, opened before the first is sent.
    second_tab = page.context.new_page()
    second_tab.goto(link)
    # Opening a tab hides the first one, and Chromium throttles a hidden page's timers to one
    # tick a second: every tap then waited ~2-3 s for Playwright's "stable" check. A person
    # switches back to the tab they are filling in; so does the test.
    page.bring_to_front()
    assert page.get_by_role("heading", name="Your check-in").is_visible()
    assert page.get_by_text("Part 1 of 2").is_visible()
    assert page.locator("#progress-count").inner_text() == "0"
    for number in range(1, 10):
        answer(page, f"phq9-{number}", "Not at all" if number != 2 else "Several days")
    answer(page, "phq9-10", "Somewhat difficult")
    for number in range(1, 8):
        answer(page, f"gad7-{number}", "More than half the days")
    assert page.locator("#progress-count").inner_text() == "17"
    screenshot(page, "checkin-form-phone")

    page.get_by_role("button", name="Send my answers").tap()
    page.wait_for_url(re.compile(r".*/done/$"))
    assert page.get_by_role("heading", name="Thank you for your answers").is_visible()
    screenshot(page, "checkin-thank-you-phone")

    # The back button: the form is never cached (no-store), so the link answers afresh.
    page.go_back()
    expect(page.get_by_text("We have already received your answers")).to_be_visible()
    # The second tab submits other answers: nothing more is stored.
    second_tab.bring_to_front()
    for number in range(1, 10):
        answer(second_tab, f"phq9-{number}", "Nearly every day")
    for number in range(1, 8):
        answer(second_tab, f"gad7-{number}", "Nearly every day")
    second_tab.get_by_role("button", name="Send my answers").tap()
    expect(second_tab.get_by_text("We have already received your answers")).to_be_visible()

    checkin = CheckIn.objects.get(episode=episode)
    assert checkin.status == CheckInStatus.COMPLETED
    stored = Administration.objects.filter(episode=episode)
    assert stored.count() == 2
    totals = dict(stored.values_list("instrument", "total"))
    assert totals == {"phq9": 1, "gad7": 14}


def test_the_session_rating_sliders_work_by_keyboard_and_by_mouse_and_start_unanswered(
    episode, smtp_inbox, phone_page, screenshot
):
    start_plan(episode, instruments=["phq9"])
    TreatmentSession.objects.create(
        episode=episode, starts_at=timezone.now() - timedelta(hours=1), attended=True
    )
    checkins_sweep()
    send_outbox()
    assert len(smtp_inbox.messages) == 2  # this week's check-in and the session rating
    rating = CheckIn.objects.get(episode=episode, kind=CheckInKind.SESSION_RATING)
    links = [link_in(m) for m in smtp_inbox.messages]
    page = phone_page
    # The session rating is whichever link opens a form with visual-analogue sliders.
    for link in links:
        page.goto(link)
        if page.locator(".vas").count():
            break
    sliders = page.get_by_role("slider")
    expect(sliders).to_have_count(4)

    def mark(number):
        return page.locator(f"#id_session_rating-{number}")

    # Every item starts "not answered": the slider's starting position is not an answer.
    for number in range(1, 5):
        assert mark(number).input_value() == ""
        assert sliders.nth(number - 1).get_attribute("aria-valuetext") == "not answered"
    expect(page.locator("#q-session_rating-1 .vas-state")).to_have_text("not answered")

    # Keyboard: arrow keys move the mark by 0.1 and the value is shown as it moves.
    sliders.nth(0).focus()
    for _ in range(72):
        page.keyboard.press("ArrowRight")
    assert mark(1).input_value() == "7.2"
    assert sliders.nth(0).get_attribute("aria-valuetext") == "7.2"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused slider shows a focus ring"
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    assert mark(1).input_value() == "9.9"

    # Mouse: a click on the line sets a mark to one decimal, about where it was clicked.
    sliders.nth(1).scroll_into_view_if_needed()
    box = sliders.nth(1).bounding_box()
    assert box["height"] >= 44
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    middle = float(mark(2).input_value())
    assert 4.0 <= middle <= 6.0 and mark(2).input_value() == f"{middle:.1f}"
    # Typing a mark moves the slider too; "Clear" returns the item to "not answered".
    mark(3).fill("8.6")
    assert sliders.nth(2).input_value() == "8.6"
    page.locator("#q-session_rating-3").get_by_role("button", name="Clear: not answered").click()
    assert mark(3).input_value() == ""
    expect(page.locator("#q-session_rating-3 .vas-state")).to_have_text("not answered")

    # Unanswered items are refused next to the item; nothing is stored.
    page.get_by_role("button", name="Send my answers").click()
    expect(page.locator("#q-session_rating-3 .field-error")).to_be_visible()
    expect(page.locator("#q-session_rating-4 .field-error")).to_be_visible()
    assert not Administration.objects.filter(checkin=rating).exists()
    screenshot(page, "checkin-vas-unanswered-phone")

    # The marks already made survive the round trip; finish by mouse and keyboard.
    assert mark(1).input_value() == "9.9" and mark(2).input_value() == f"{middle:.1f}"
    page.get_by_role("slider").nth(2).scroll_into_view_if_needed()
    box = page.get_by_role("slider").nth(2).bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.86, box["y"] + box["height"] / 2)
    third = float(mark(3).input_value())
    page.get_by_role("slider").nth(3).focus()
    page.keyboard.press("End")
    screenshot(page, "checkin-vas-phone")
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_url(re.compile(r".*/done/$"))
    administration = Administration.objects.get(checkin=rating)
    assert administration.answers == [9.9, middle, third, 10.0]
    assert administration.total == round(9.9 + middle + third + 10.0, 1)


def test_at_320px_nothing_scrolls_sideways_and_a_missed_answer_is_shown_next_to_it(
    episode, smtp_inbox, browser, screenshot
):
    start_plan(episode)
    checkins_sweep()
    send_outbox()
    link = link_in(smtp_inbox.messages[0])
    context = browser.new_context(viewport={"width": 320, "height": 640}, has_touch=True)
    page = context.new_page()
    try:
        page.goto(link)
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        # Item 9 "not at all": a risk answer would put the crisis contacts first (tested below).
        for number in range(1, 10):
            if number != 5:
                answer(page, f"phq9-{number}", "Several days" if number != 9 else "Not at all")
        page.get_by_role("button", name="Send my answers").tap()
        expect(page.get_by_role("heading", name="Some answers are missing")).to_be_visible()
        # Focus moves to the summary; its links lead to the item, whose error sits beside it.
        assert page.evaluate("document.activeElement.id") == "error-summary"
        item = page.locator("#q-phq9-5")
        assert "Please choose an answer" in item.inner_text()
        assert page.locator("#q-phq9-4").get_by_label("Several days").is_checked()
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        screenshot(page, "checkin-errors-320")
    finally:
        context.close()
    assert not Administration.objects.exists()


def test_the_form_works_without_javascript(episode, smtp_inbox, browser):
    start_plan(episode, instruments=["gad7"])
    checkins_sweep()
    send_outbox()
    link = link_in(smtp_inbox.messages[0])
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto(link)
        for number in range(1, 8):
            page.locator(f"#q-gad7-{number}").get_by_text("Not at all", exact=True).click()
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_url(re.compile(r".*/done/$"))
        assert page.get_by_role("heading", name="Thank you for your answers").is_visible()
    finally:
        context.close()
    assert Administration.objects.filter(instrument="gad7", total=0).count() == 1


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_after_an_unfinished_risky_submit_the_crisis_contacts_are_on_screen_and_focused(
    episode, smtp_inbox, browser, screenshot, javascript
):
    # Item 9 answered "nearly every day", everything else left out: 15 answers missing, but the
    # contacts come first, in view, and are what a screen reader is on.
    start_plan(episode)
    checkins_sweep()
    send_outbox()
    link = link_in(smtp_inbox.messages[0])
    context = browser.new_context(
        viewport={"width": 375, "height": 667},
        is_mobile=True,
        has_touch=True,
        java_script_enabled=javascript,
    )
    page = context.new_page()
    try:
        page.goto(link)
        page.locator("#q-phq9-9").get_by_text("Nearly every day", exact=True).click()
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_load_state()
        expect(page.get_by_role("heading", name="Some answers are missing")).to_be_attached()
        # What the client sees, not the whole page.
        name = f"checkin-crisis-first-375-{'js' if javascript else 'nojs'}"
        page.screenshot(path=str(screenshot(page, name)))
        crisis = page.locator("#crisis")
        expect(crisis).to_be_focused()
        box = crisis.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 667, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        calls = crisis.locator("a[href^='tel:']")
        assert calls.count() >= 2
        assert crisis.locator("a[href^='tel:116123']").is_visible()
        assert crisis.locator("a[href='sms:85258?body=SHOUT']").is_visible()
    finally:
        context.close()
    assert not Administration.objects.exists()


@override_settings(CHECKIN_RATE_LIMIT_REQUESTS=2, CHECKIN_RATE_LIMIT_WINDOW=600)
def test_a_complete_risky_submit_from_an_ip_past_its_limit_is_stored_and_alerts(
    episode, smtp_inbox, browser, screenshot
):
    from django.core.cache import cache

    from outcomes.models import Alert, AlertRule

    cache.clear()
    start_plan(episode, instruments=["phq9"])
    checkins_sweep()
    send_outbox()
    link = link_in(smtp_inbox.messages[0])
    context = browser.new_context(viewport={"width": 375, "height": 667}, has_touch=True)
    page = context.new_page()
    try:
        # Others behind the same clinic Wi-Fi have used up the limit with mistyped links.
        for _ in range(3):
            response = page.goto(link[:-4] + "zzz/")
        assert response.status == 429
        assert page.locator(".help-footer a[href^='tel:']").count() >= 2
        screenshot(page, "checkin-rate-limited-375")

        page.goto(link)
        for number in range(1, 10):
            answer(page, f"phq9-{number}", "Nearly every day")
        answer(page, "phq9-10", "Extremely difficult")
        page.get_by_role("button", name="Send my answers").tap()
        page.wait_for_url(re.compile(r".*/done/$"))
        crisis = page.locator(".crisis")
        expect(crisis).to_be_visible()
        assert crisis.locator("a[href^='tel:']").count() >= 2
    finally:
        context.close()
    assert Administration.objects.get(episode=episode, instrument="phq9").total == 27
    alert = Alert.objects.get(episode=episode, rule=AlertRule.RISK_ITEM)
    assert alert.severity == "urgent"


def test_the_delivered_mail_unsubscribes_in_one_click_and_each_question_keeps_its_time_frame(
    episode, smtp_inbox, browser
):
    start_plan(episode, instruments=["gad7"])
    checkins_sweep()
    send_outbox()
    message = smtp_inbox.messages[0]
    # A long header may be folded onto the next line: the value then starts with the fold's space.
    opt_out = re.fullmatch(
        r"<(https?://\S+/c/opt-out/[A-Za-z0-9_-]+/)>", message["List-Unsubscribe"].strip()
    )
    assert opt_out, message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert re.search(
        r"You can send your answers once, until \w+ \d+ \w+, \d\d:\d\d (GMT|BST)", text
    )

    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto(link_in(message))
        for number in (1, 7):
            expect(page.locator(f"#q-gad7-{number}")).to_have_accessible_description(
                re.compile(r"^Over the last 2 weeks")
            )
        # The mail provider's POST: no cookies, no page shown, no confirmation step.
        response = context.request.post(
            opt_out.group(1), form={"List-Unsubscribe": "One-Click"}, max_redirects=0
        )
        assert response.status == 200
    finally:
        context.close()
    episode.client.refresh_from_db()
    assert episode.client.is_opted_out
