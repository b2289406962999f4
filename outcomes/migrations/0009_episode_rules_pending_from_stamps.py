"""Carry the per-administration stamps over to the episode-level mark before they go (0010):
an episode with an administration no evaluation reached is marked pending since the earliest
such administration was stored, so /healthz, sweep_unevaluated and the incremental sweep still
see it."""

from django.db import migrations
from django.db.models import F, Min, OuterRef, Q, Subquery
from django.db.models.functions import Now


def stamps_to_mark(apps, schema_editor):
    Administration = apps.get_model("outcomes", "Administration")
    Episode = apps.get_model("clients", "Episode")
    unevaluated = Administration.objects.filter(alerts_evaluated_at__isnull=True)
    earliest = (
        unevaluated.filter(episode_id=OuterRef("pk"))
        .order_by()
        .values("episode_id")
        .annotate(first=Min("created_at"))
        .values("first")
    )
    Episode.objects.filter(pk__in=unevaluated.values("episode_id")).update(
        rules_pending_since=Subquery(earliest)
    )


def mark_to_stamps(apps, schema_editor):
    # Back to stamps: every form stored before its episode's mark was read by an evaluation.
    Administration = apps.get_model("outcomes", "Administration")
    Administration.objects.filter(
        Q(episode__rules_pending_since__isnull=True)
        | Q(created_at__lt=F("episode__rules_pending_since"))
    ).update(alerts_evaluated_at=Now())


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0013_episode_rules_pending"),
        ("outcomes", "0008_alert_fewer_indexes"),
    ]

    operations = [migrations.RunPython(stamps_to_mark, mark_to_stamps)]
