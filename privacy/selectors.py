"""A client's data, whole, for a subject access request (GDPR art. 15 and 20)."""

from django.utils import timezone

from clients.models import Client


def _iso(value):
    return value.isoformat() if value is not None else None


def client_data_export(*, client: Client) -> dict:
    """Everything stored about ``client``: contact details, episodes, sessions, check-ins, answers
    and scores, alerts. Staff accounts appear by username only; secrets (link key hashes) never."""
    episodes = []
    for episode in client.episodes.select_related("therapist").order_by("started_on", "pk"):
        episodes.append(
            {
                "started_on": _iso(episode.started_on),
                "ended_on": _iso(episode.ended_on),
                "end_reason": episode.end_reason,
                "therapist": episode.therapist.get_username(),
                "status": episode.status,
                "sessions": [
                    {"starts_at": _iso(session.starts_at), "attended": session.attended}
                    for session in episode.sessions.order_by("starts_at")
                ],
                "events": [
                    {"occurred_on": _iso(event.occurred_on), "kind": event.kind, "note": event.note}
                    for event in episode.events.order_by("occurred_on")
                ],
                "checkins": [
                    {
                        "kind": checkin.kind,
                        "due_at": _iso(checkin.due_at),
                        "status": checkin.status,
                        "sent_at": _iso(checkin.sent_at),
                        "completed_at": _iso(checkin.completed_at),
                    }
                    for checkin in episode.checkins.order_by("due_at")
                ],
                "responses": [
                    {
                        "instrument": administration.instrument,
                        "instrument_version": administration.instrument_version,
                        "administered_at": _iso(administration.administered_at),
                        "answers": administration.answers,
                        "total": administration.total,
                        "band": administration.band,
                        "risk": administration.risk,
                        "source": administration.source,
                    }
                    for administration in episode.administrations.order_by("administered_at")
                ],
                "alerts": [
                    {
                        "raised_at": _iso(alert.created_at),
                        "rule": alert.rule,
                        "severity": alert.severity,
                        "state": alert.state,
                        "message": alert.message,
                        "action": alert.action,
                        "resolution_note": alert.resolution_note,
                    }
                    for alert in episode.alerts.order_by("created_at")
                ],
            }
        )
    return {
        "exported_at": _iso(timezone.now()),
        "clinic": client.clinic.name,
        "client": {
            "label": client.label,
            "name": client.name,
            "email": client.email,
            "timezone": client.timezone,
            "language": client.language,
            "opted_out_at": _iso(client.opted_out_at),
            "created_at": _iso(client.created_at),
        },
        "episodes": episodes,
    }
