"""The demo clinic generator: pure, deterministic, and true to its archetypes.

PHQ-9 totals are computed here as the sum of the first nine answers (item 10, difficulty, is
never scored), so these tests do not depend on the scoring module.
"""

import math
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, date, timedelta

import pandas as pd
import pytest

from demo.demo_data import (
    ARCHETYPE_CHECKS,
    ARCHETYPE_SHARES,
    DETERIORATOR,
    DISENGAGED,
    DROPOUT,
    EVENT_KINDS,
    GAD7,
    PHQ9,
    RISK,
    RUPTURE,
    SESSION_RATING,
    generate_clinic,
    to_frames,
)
from measures.rules import evaluate

TODAY = date(2025, 6, 2)


@pytest.fixture(scope="module", params=[0, 1, 2, 3, 4], ids=lambda seed: f"seed{seed}")
def demo(request):
    return generate_clinic(seed=request.param, start=TODAY)


def phq9_total(answers):
    return sum(answers[:9])


def series(demo, instrument):
    """Administrations of one instrument per episode, in time order."""
    by_episode = defaultdict(list)
    for administration in demo.administrations:
        if administration.instrument == instrument:
            by_episode[administration.episode].append(administration)
    return by_episode


def episodes_of(demo, archetype):
    clients = {client.index for client in demo.clients if client.archetype == archetype}
    return [episode for episode in demo.episodes if episode.client in clients]


def expected_phq9(intake, t):
    """CLINICAL.md §4 continuous default curve and its σ_t (PHQ-9)."""
    t = min(t, 12)
    fraction = math.log(t) / math.log(7)
    expected = intake + ((2.58 + 0.478 * intake) - intake) * fraction
    sigma = math.sqrt(max((5.36 * fraction) ** 2, 2.16**2))
    return expected, sigma


def test_the_same_seed_gives_the_same_clinic():
    assert generate_clinic(seed=7, start=TODAY) == generate_clinic(seed=7, start=TODAY)


def test_different_seeds_give_different_clinics():
    first = generate_clinic(seed=1, start=TODAY)
    second = generate_clinic(seed=2, start=TODAY)
    assert first.administrations != second.administrations


def test_the_default_clinic_has_two_teams_five_therapists_a_supervisor_and_an_admin(demo):
    assert len(demo.teams) == 2
    roles = Counter(member.role for member in demo.staff)
    assert roles == {"therapist": 5, "supervisor": 1, "admin": 1}
    therapist_teams = Counter(m.team for m in demo.staff if m.role == "therapist")
    assert set(therapist_teams) == {0, 1}
    assert all(m.team is None for m in demo.staff if m.role != "therapist")
    assert len({m.username for m in demo.staff}) == len(demo.staff)


def test_clients_are_pseudonymous_and_assigned_to_therapists(demo):
    assert len(demo.clients) == 60
    therapist_indexes = {i for i, m in enumerate(demo.staff) if m.role == "therapist"}
    for client in demo.clients:
        assert re.fullmatch(r"C-\d{4}", client.label)
        assert re.fullmatch(r"client\d{4}@example\.org", client.email)
        assert client.label[2:] in client.email
        assert client.language == "en"
        assert client.therapist in therapist_indexes
    timezones = Counter(client.timezone for client in demo.clients)
    assert timezones.most_common(1)[0][0] == "Europe/London"


def test_the_default_clinic_has_enough_of_every_archetype(demo):
    counts = Counter(client.archetype for client in demo.clients)
    assert set(counts) == set(ARCHETYPE_SHARES) == set(ARCHETYPE_CHECKS)
    assert counts[DETERIORATOR] >= 3
    assert counts[RISK] >= 1
    assert counts[RUPTURE] >= 2
    assert counts[DROPOUT] >= 2


def test_every_answer_is_in_range(demo):
    lengths = {PHQ9: 10, GAD7: 7, SESSION_RATING: 4}
    highest = {PHQ9: 3, GAD7: 3, SESSION_RATING: 10}
    for administration in demo.administrations:
        answers = administration.answers
        assert len(answers) == lengths[administration.instrument]
        assert all(isinstance(answer, int) for answer in answers)
        assert all(0 <= answer <= highest[administration.instrument] for answer in answers)
        assert administration.administered_at.tzinfo == UTC


def test_nothing_happens_after_today(demo):
    end_of_today = TODAY + timedelta(days=1)
    assert all(a.administered_at.date() < end_of_today for a in demo.administrations)
    assert all(s.date <= TODAY for s in demo.sessions)
    assert all(e.date <= TODAY for e in demo.events)
    assert all(m.due_at.date() <= TODAY for m in demo.missed_checkins)


def test_most_episodes_are_active_and_started_within_the_weeks_asked_for(demo):
    active = [episode for episode in demo.episodes if episode.end is None]
    assert len(active) > len(demo.episodes) / 2
    for episode in active:
        assert episode.end_reason is None
        assert timedelta(weeks=1) <= TODAY - episode.start <= timedelta(weeks=31)


def test_finished_planned_episodes_have_at_least_two_attended_sessions(demo):
    attended = Counter(s.episode for s in demo.sessions if s.attended)
    planned = [e for e in demo.episodes if e.end_reason == "planned"]
    assert planned
    for episode in planned:
        assert attended[episode.index] >= 2
        assert episode.start < episode.end <= TODAY


def test_sessions_and_forms_fall_inside_their_episode(demo):
    episodes = {episode.index: episode for episode in demo.episodes}
    for session in demo.sessions:
        episode = episodes[session.episode]
        assert episode.start <= session.date <= (episode.end or TODAY)
    for event in demo.events:
        episode = episodes[event.episode]
        assert episode.start <= event.date <= (episode.end or TODAY)
        assert event.kind in EVENT_KINDS


def test_deteriorators_end_at_least_six_points_above_intake(demo):
    phq = series(demo, PHQ9)
    episodes = episodes_of(demo, DETERIORATOR)
    assert len(episodes) >= 3
    assert any(episode.end is not None for episode in episodes)
    for episode in episodes:
        totals = [phq9_total(a.answers) for a in phq[episode.index]]
        assert totals[-1] >= totals[0] + 6


def test_active_deteriorators_answer_the_risk_item_at_their_latest_form(demo):
    phq = series(demo, PHQ9)
    active = [episode for episode in episodes_of(demo, DETERIORATOR) if episode.end is None]
    assert active
    for episode in active:
        assert phq[episode.index][-1].answers[8] >= 1


def test_the_default_curve_flags_deteriorators_before_their_last_score(demo):
    phq = series(demo, PHQ9)
    for episode in episodes_of(demo, DETERIORATOR):
        administrations = phq[episode.index]
        intake = phq9_total(administrations[0].answers)
        first_day = administrations[0].administered_at
        flagged = []
        for administration in administrations[1:-1]:
            t = 1 + round((administration.administered_at - first_day).days / 7)
            expected, sigma = expected_phq9(intake, t)
            total = phq9_total(administration.answers)
            if total > expected + 1.2816 * sigma or total - intake >= 6:
                flagged.append(t)
        assert flagged, f"episode {episode.index} never flagged before its last score"


def alert_frames(demo):
    """The demo's scores in the input shape of ``measures.rules.evaluate``, ids by position."""
    administrations = pd.DataFrame(
        {
            "episode_id": [a.episode for a in demo.administrations],
            "administration_id": range(len(demo.administrations)),
            "instrument": [a.instrument for a in demo.administrations],
            "administered_at": pd.to_datetime(
                [a.administered_at for a in demo.administrations], utc=True
            ),
            "total": [
                float(phq9_total(a.answers) if a.instrument == PHQ9 else sum(a.answers))
                for a in demo.administrations
            ],
            "risk": [
                "yes" if a.instrument == PHQ9 and a.answers[8] > 0 else "no"
                for a in demo.administrations
            ],
        }
    )
    no_checkins = pd.DataFrame(
        {
            "episode_id": pd.Series(dtype="int64"),
            "checkin_id": pd.Series(dtype="int64"),
            "due_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "status": pd.Series(dtype=object),
        }
    )
    return administrations, no_checkins


def deteriorators_the_curve_misses(demo):
    """Deteriorator episodes without a PHQ-9 not-on-track alert before their last PHQ-9 score."""
    administrations, checkins = alert_frames(demo)
    alerts = evaluate(administrations, checkins).alerts
    off_track = alerts[(alerts["rule"] == "not_on_track") & (alerts["instrument"] == PHQ9)]
    administered_at = administrations.set_index("administration_id")["administered_at"]
    first_alert_at = (
        administered_at.loc[off_track["administration_id"].astype(int)]
        .groupby(off_track["episode_id"].to_numpy())
        .min()
    )
    phq = administrations[administrations["instrument"] == PHQ9]
    last_score_at = phq.groupby("episode_id")["administered_at"].max()
    return [
        episode.index
        for episode in episodes_of(demo, DETERIORATOR)
        if not first_alert_at.get(episode.index, last_score_at[episode.index])
        < last_score_at[episode.index]
    ]


def test_deteriorators_start_as_cases_so_the_curve_watches_them(demo):
    phq = series(demo, PHQ9)
    for episode in episodes_of(demo, DETERIORATOR):
        # PHQ-9 caseness is >= 10 (NHS Talking Therapies); the curve starts there.
        assert 10 <= phq9_total(phq[episode.index][0].answers) <= 16
    assert deteriorators_the_curve_misses(demo) == []


def test_the_curve_rule_alerts_on_every_deteriorator_of_a_large_clinic():
    # 60 clients hold only four deteriorators; a larger clinic draws enough low intakes to matter.
    demo = generate_clinic(clients=2000, seed=0, start=TODAY)
    assert len(episodes_of(demo, DETERIORATOR)) >= 100
    assert deteriorators_the_curve_misses(demo) == []


def test_dropouts_stop_early_with_fewer_than_two_attended_sessions(demo):
    phq = series(demo, PHQ9)
    attended = Counter(s.episode for s in demo.sessions if s.attended)
    episodes = episodes_of(demo, DROPOUT)
    assert len(episodes) >= 2
    for episode in episodes:
        assert episode.end_reason == "dropout"
        assert attended[episode.index] < 2
        assert 2 <= len(phq[episode.index]) <= 4


def test_there_is_at_least_one_risk_answer_and_every_risk_client_has_one(demo):
    phq = series(demo, PHQ9)
    assert any(a.answers[8] > 0 for answers in phq.values() for a in answers)
    for episode in episodes_of(demo, RISK):
        assert any(a.answers[8] > 0 for a in phq[episode.index])
        assert any(e.kind == "risk_review" and e.episode == episode.index for e in demo.events)


def test_ruptures_drop_the_session_rating_below_the_alliance_cutoff(demo):
    ratings = series(demo, SESSION_RATING)
    episodes = episodes_of(demo, RUPTURE)
    assert len(episodes) >= 2
    for episode in episodes:
        totals = [sum(a.answers) for a in ratings[episode.index]]
        assert any(
            now < 36 and now < before for before, now in zip(totals, totals[1:], strict=False)
        )


def test_disengaged_clients_miss_the_last_check_ins_in_a_row(demo):
    phq = series(demo, PHQ9)
    missed = defaultdict(list)
    for checkin in demo.missed_checkins:
        missed[checkin.episode].append(checkin.due_at)
    for episode in episodes_of(demo, DISENGAGED):
        last_form = phq[episode.index][-1].administered_at
        missed_after = [due for due in missed[episode.index] if due > last_form]
        assert len(missed_after) >= 2
        assert episode.end is None


def test_weekly_check_ins_are_due_at_a_fixed_local_time(demo):
    from zoneinfo import ZoneInfo

    zones = {client.index: ZoneInfo(client.timezone) for client in demo.clients}
    episodes = {episode.index: episode for episode in demo.episodes}
    due_times = defaultdict(set)
    for checkin in demo.missed_checkins:
        episode = episodes[checkin.episode]
        local = checkin.due_at.astimezone(zones[episode.client])
        assert local.weekday() == episode.start.weekday()
        due_times[checkin.episode].add(local.time())
    assert due_times
    assert all(len(times) == 1 for times in due_times.values())


def test_phq9_and_gad7_are_submitted_together_as_one_weekly_form(demo):
    phq = {(a.episode, a.administered_at) for a in demo.administrations if a.instrument == PHQ9}
    gad = {(a.episode, a.administered_at) for a in demo.administrations if a.instrument == GAD7}
    assert phq == gad


def test_intake_scores_are_severe_on_average_and_correlated():
    demo = generate_clinic(clients=3000, seed=3, start=TODAY)
    phq = series(demo, PHQ9)
    gad = series(demo, GAD7)
    first_episodes = {e.index for e in demo.episodes if e.end_reason != "transfer"} - {
        e.index + 1 for e in demo.episodes if e.end_reason == "transfer"
    }
    phq_intakes = [phq9_total(phq[e][0].answers) for e in first_episodes]
    gad_intakes = [sum(gad[e][0].answers) for e in first_episodes]
    phq_mean = sum(phq_intakes) / len(phq_intakes)
    gad_mean = sum(gad_intakes) / len(gad_intakes)
    assert 15 <= phq_mean <= 18
    assert 13 <= gad_mean <= 16
    covariance = sum(
        (p - phq_mean) * (g - gad_mean) for p, g in zip(phq_intakes, gad_intakes, strict=True)
    )
    spread = math.sqrt(
        sum((p - phq_mean) ** 2 for p in phq_intakes)
        * sum((g - gad_mean) ** 2 for g in gad_intakes)
    )
    assert covariance / spread > 0.5


def test_frames_have_one_row_per_record(demo):
    frames = to_frames(demo)
    assert len(frames["administrations"]) == len(demo.administrations)
    assert list(frames["administrations"].columns) == [
        "episode",
        "instrument",
        "administered_at",
        "answers",
    ]
    assert str(frames["administrations"]["administered_at"].dt.tz) == "UTC"
    assert len(frames["episodes"]) == len(demo.episodes)
    assert len(frames["missed_checkins"]) == len(demo.missed_checkins)


@pytest.mark.slow
def test_fifty_thousand_clients_generate_quickly_and_correctly():
    started = time.perf_counter()
    demo = generate_clinic(clients=50_000, seed=11, start=TODAY)
    elapsed = time.perf_counter() - started
    print(f"\ngenerate_clinic(clients=50_000): {elapsed:.1f} s")

    assert len(demo.clients) == 50_000
    assert len({client.label for client in demo.clients}) == 50_000
    frames = to_frames(demo)
    administrations = frames["administrations"]
    assert len(administrations) > 1_000_000
    for instrument, length, highest in ((PHQ9, 10, 3), (GAD7, 7, 3), (SESSION_RATING, 4, 10)):
        answers = administrations.loc[administrations["instrument"] == instrument, "answers"]
        flat = [answer for row in answers for answer in row]
        assert set(answers.map(len)) == {length}
        assert min(flat) >= 0
        assert max(flat) <= highest

    phq = administrations[administrations["instrument"] == PHQ9]
    totals = phq["answers"].map(phq9_total)
    by_episode = totals.groupby(phq["episode"])
    change = by_episode.last() - by_episode.first()
    archetypes = frames["clients"].rename(columns={"index": "client"})[["client", "archetype"]]
    episodes = frames["episodes"].merge(archetypes, on="client")
    deteriorators = episodes.loc[episodes["archetype"] == DETERIORATOR, "index"]
    assert (change.loc[deteriorators] >= 6).all()
