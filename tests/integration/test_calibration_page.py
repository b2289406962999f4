"""The clinic admin's calibration page (issue 16): the operating points with what each would have
cost in false alarms on the clinic's history, and the action that applies one, scoped to the
admins of that clinic, audited, and picked up by the sweep through the rules fingerprint."""

import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from clients.models import Clinic, Role
from clients.selectors import clinic_operating_point, operating_point_settings
from clients.services import clinic_operating_point_set
from measures.rules import OPERATING_POINTS
from outcomes.evaluation import (
    episodes_evaluate,
    episodes_to_evaluate,
    rule_settings,
    settings_fingerprint,
)
from outcomes.models import TrajectoryCurve
from tests.factories import make_staff

pytestmark = pytest.mark.django_db

CURRENT_ROW = re.compile(
    r'<tr class="operating-point current-point" aria-current="true">(.*?)</tr>', re.S
)


def choose_url(clinic) -> str:
    return f"/calibration/{clinic.slug}/operating-point/"


def another_point(clinic) -> str:
    """A point the clinic does not use now, read from the rules (their values may change)."""
    current = clinic_operating_point(clinic)
    return next(name for name in OPERATING_POINTS if name != current)


def settings_of(clinic) -> dict:
    """The clinic's stored values of the settings an operating point sets."""
    clinic.refresh_from_db()
    keys = operating_point_settings(next(iter(OPERATING_POINTS.values())))
    return {key: getattr(clinic, key) for key in keys}


def test_the_admin_sees_every_operating_point_and_the_clinics_own_marked_current(client, cast):
    client.force_login(cast.admin)
    html = client.get("/calibration/").content.decode()
    for name in OPERATING_POINTS:
        assert f'<span class="point-name">{name}</span>' in html
    current = clinic_operating_point(cast.clinic)
    if current is None:
        assert len(CURRENT_ROW.findall(html)) == 0 and "match none of these points" in html
    else:
        (row,) = CURRENT_ROW.findall(html)
        assert f'<span class="point-name">{current}</span>' in row and "In use" in row
    assert html.count(">Use this operating point</button>") == len(OPERATING_POINTS) - (
        current is not None
    )
    assert "Not calibrated yet" in html


def test_settings_set_one_by_one_match_no_point_and_the_page_says_so(client, cast):
    Clinic.objects.filter(pk=cast.clinic.pk).update(z_yellow=1.0, z_red=2.5)
    client.force_login(cast.admin)
    html = client.get("/calibration/").content.decode()
    assert "match none of these points" in html and not CURRENT_ROW.findall(html)


def test_the_figures_of_the_last_fit_are_shown_and_stale_ones_are_not(client, cast):
    first, second = list(OPERATING_POINTS)[:2]
    stored = {
        name: {
            **operating_point_settings(OPERATING_POINTS[name]),
            "curve_sensitivity": 0.81,
            "curve_median_weeks_of_warning": 3.5,
            "curve_false_alarm_rate": 0.137,
            "curve_false_alarm_rate_dipped_then_improved": 0.29,
        }
        for name in (first, second)
    }
    # The second point's figures were computed with another z: a release changed the point.
    stored[second]["z_yellow"] = stored[second]["z_yellow"] + 0.5
    TrajectoryCurve.objects.create(
        clinic=cast.clinic, instrument="phq9", band_low=10, band_high=14, b0=13.0, b1=-2.0,
        sigma=3.0, n_episodes=40, source=TrajectoryCurve.Source.FITTED,
        fitted_at=timezone.now(),
        calibration={"curve_n_episodes": 40, "operating_points": stored},
    )  # fmt: skip
    client.force_login(cast.admin)
    html = client.get("/calibration/").content.decode()
    assert "Not calibrated yet" not in html and "40 episodes, fitted" in html
    rows = dict(re.findall(r'<span class="point-name">(.*?)</span>(.*?)</tr>', html, re.S))
    assert "81 %" in rows[first] and "14 %" in rows[first] and "29 %" in rows[first]
    assert "3.5" in rows[first]
    assert "81 %" not in rows[second]


def test_choosing_a_point_asks_first_then_applies_it_audits_it_and_the_sweep_takes_it_up(
    client, cast, django_capture_on_commit_callbacks
):
    episodes_evaluate(episode_ids=[cast.episode.pk, cast.other_episode.pk])
    assert episodes_to_evaluate() == []  # stamped with the clinic's fingerprint
    name = another_point(cast.clinic)
    before = settings_of(cast.clinic)
    client.force_login(cast.admin)

    page = client.post(choose_url(cast.clinic), {"point": name})
    assert page.status_code == 200
    assert f"Confirm: use “{name}”" in page.content.decode()
    assert settings_of(cast.clinic) == before
    assert not AuditEvent.objects.filter(action="clinic.operating_point").exists()

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(choose_url(cast.clinic), {"point": name, "confirmed": "on"})
    assert response.status_code == 302
    assert response["Location"] == f"/calibration/?clinic={cast.clinic.slug}"
    assert settings_of(cast.clinic) == operating_point_settings(OPERATING_POINTS[name])
    assert clinic_operating_point(cast.clinic) == name
    event = AuditEvent.objects.get(action="clinic.operating_point")
    assert event.actor == cast.admin and event.clinic == cast.clinic
    assert event.object_id == str(cast.clinic.pk)
    assert event.details["operating_point"] == name
    assert event.details["before"] == before
    assert len(queued) == 1  # the sweep, queued after the commit

    # The fingerprint changed, so the existing sweep re-evaluates the clinic's active episodes
    # and stamps them with the new settings.
    assert episodes_to_evaluate() == sorted([cast.episode.pk, cast.other_episode.pk])
    episodes_evaluate(episode_ids=episodes_to_evaluate())
    cast.episode.refresh_from_db()
    assert cast.episode.rules_fingerprint == settings_fingerprint(rule_settings(clinic=cast.clinic))

    html = client.get(response["Location"]).content.decode()
    (row,) = CURRENT_ROW.findall(html)
    assert f'<span class="point-name">{name}</span>' in row
    assert "now uses the operating point" in html


@pytest.mark.parametrize("who", ["therapist", "supervisor", "other_admin"])
def test_only_an_admin_of_that_clinic_sees_or_changes_its_calibration(client, cast, who):
    if who == "other_admin":
        user = make_staff(cast.other_clinic, role=Role.ADMIN)
    else:
        user = getattr(cast, who)
    before = settings_of(cast.clinic)
    client.force_login(user)
    name = another_point(cast.clinic)
    assert client.get(f"/calibration/?clinic={cast.clinic.slug}").status_code == 404
    for data in ({"point": name}, {"point": name, "confirmed": "on"}):
        assert client.post(choose_url(cast.clinic), data).status_code == 404
    assert settings_of(cast.clinic) == before
    assert not AuditEvent.objects.filter(action="clinic.operating_point").exists()
    if who != "other_admin":
        assert client.get("/calibration/").status_code == 404


def test_a_name_that_is_no_operating_point_changes_nothing(client, cast):
    before = settings_of(cast.clinic)
    client.force_login(cast.admin)
    data = {"point": "z 0.1", "confirmed": "on"}
    assert client.post(choose_url(cast.clinic), data).status_code == 404
    assert client.get(choose_url(cast.clinic)).status_code == 405
    assert settings_of(cast.clinic) == before


def test_every_operating_point_can_be_applied_to_a_clinic(cast):
    # A field added to the points needs a Clinic field of the same name, and a value changed in
    # the points must pass the Clinic's validators: both fail here, not on the page.
    clinic_fields = {field.name for field in Clinic._meta.get_fields()}
    for name, point in OPERATING_POINTS.items():
        assert set(operating_point_settings(point)) <= clinic_fields, name
        clinic_operating_point_set(actor=cast.admin, clinic=cast.clinic, name=name)
        cast.clinic.refresh_from_db()
        assert clinic_operating_point(cast.clinic) == name


def test_a_clinic_on_the_model_defaults_is_on_the_balanced_point_with_its_rearming_shown(
    client, cast
):
    # The Clinic defaults and the "balanced (default)" point are the same four values.
    fresh = Clinic(name="Fresh", slug="fresh")
    assert clinic_operating_point(fresh) == "balanced (default)"
    client.force_login(cast.admin)
    html = client.get("/calibration/").content.decode()
    assert "new alert after 3 scores back on track" in html  # the balanced point's re-arming
    assert "new alert after 1 score back on track" in html  # fewer false alarms, CLINICAL.md


def test_choosing_fewer_false_alarms_restores_the_previous_defaults_with_rearming(cast):
    clinic_operating_point_set(actor=cast.admin, clinic=cast.clinic, name="fewer false alarms")
    chosen = settings_of(cast.clinic)
    assert chosen["not_on_track_rearm_scores"] == 1
    assert (chosen["z_yellow"], chosen["first_limit_week"], chosen["not_improving_share"]) == (
        1.6449,
        5,
        0.3,
    )
    assert clinic_operating_point(cast.clinic) == "fewer false alarms"
