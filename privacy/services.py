"""Erasure on request (GDPR art. 17) and the retention job.

Erasing deletes the rows, not a flag: the client, their episodes and everything hanging off them
(sessions, check-ins, answers, alerts, notifications) go by cascade, and mails still addressed to
them in the outbox go too. The audit trail keeps that an erasure happened, by whom, when and to
which record id (no name, no answers): that record is the controller's proof of compliance.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from clients.models import Client, Clinic, Episode
from messaging.models import OutboundEmail
from outcomes.models import Administration


@dataclass(frozen=True)
class Erased:
    episodes: int
    responses: int
    mails: int


def client_erase(*, client: Client, actor=None, reason: str = "request", request=None) -> Erased:
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)
        episodes = Episode.objects.filter(client=client)
        erased = Erased(
            episodes=episodes.count(),
            responses=Administration.objects.filter(episode__client=client).count(),
            mails=_outbox_forget(address=client.email),
        )
        audit_record(
            actor=actor,
            action="client.erase",
            obj=client,
            clinic=client.clinic,
            request=request,
            details={
                "reason": reason,
                "episodes": erased.episodes,
                "responses": erased.responses,
                "mails": erased.mails,
            },
        )
        client.delete()
    return erased


def episode_erase(*, episode: Episode, actor=None, reason: str = "retention") -> int:
    """Delete one episode and what hangs off it; returns the number of responses erased."""
    with transaction.atomic():
        responses = Administration.objects.filter(episode=episode).count()
        audit_record(
            actor=actor,
            action="episode.erase",
            obj=episode,
            clinic=episode.clinic,
            client=episode.client,
            details={"reason": reason, "responses": responses},
        )
        episode.delete()
    return responses


def retention_erase_expired(*, today: date | None = None) -> int:
    """Erase episodes closed more than their clinic's ``retention_days`` ago, and clients left
    with no episode at all by it. Returns the number of episodes erased. Safe to run twice."""
    today = today or timezone.localdate()
    erased = 0
    for clinic in Clinic.objects.all():
        cutoff = today - timedelta(days=clinic.retention_days)
        expired = Episode.objects.filter(clinic=clinic, ended_on__lt=cutoff).select_related(
            "client", "clinic"
        )
        for episode in expired.iterator(chunk_size=200):
            client = episode.client
            episode_erase(episode=episode, reason="retention")
            erased += 1
            if not Episode.objects.filter(client=client).exists():
                client_erase(client=client, reason="retention")
    return erased


def _outbox_forget(*, address: str) -> int:
    if not address:
        return 0
    deleted, _ = OutboundEmail.objects.to_address(address).delete()
    return deleted
