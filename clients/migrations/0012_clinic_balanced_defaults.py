"""New curve defaults (issue 16, docs/alerts.md "Why these defaults"); clinics that chose nothing
move to them.

A clinic whose four values are all still the previous shipped defaults (z_yellow 1.6449, first
week judged 5, not-improving share 0.3, re-arm after 1 score), with the red z and the σ floor also
untouched, chose nothing: it takes the new defaults (z_yellow 0.6, week 4, share 0.05, re-arm
after 3), which warn more deteriorating clients before they are reliably worse on the profile
that reproduces the issue author's cohort (65.6 % → 77.0 %). Any other combination was chosen
(on the calibration page, where the previous defaults are now "fewer false alarms", or in the
admin) and stays. The values are written out, not imported: a migration must not change when the
code's defaults change again. The settings are part of the rules fingerprint, so the next sweep
re-evaluates a moved clinic's episodes.
"""

import django.core.validators
from django.db import migrations, models

PREVIOUS = {
    "z_yellow": 1.6449,
    "first_limit_week": 5,
    "not_improving_share": 0.3,
    "not_on_track_rearm_scores": 1,
}
NEW = {
    "z_yellow": 0.6,
    "first_limit_week": 4,
    "not_improving_share": 0.05,
    "not_on_track_rearm_scores": 3,
}
# Settings that must also be untouched for a clinic to count as having chosen nothing.
UNCHOSEN = {"z_red": 1.6449, "sigma_floor": "sqrt2_sem"}
# Floats are stored as typed; a tolerance keeps the match robust to the backend's rounding.
TOLERANCE = 1e-6


def _at(values: dict) -> dict:
    lookups = {}
    for key, value in {**values, **UNCHOSEN}.items():
        if isinstance(value, float):
            lookups[f"{key}__gte"] = value - TOLERANCE
            lookups[f"{key}__lte"] = value + TOLERANCE
        else:
            lookups[key] = value
    return lookups


def forwards(apps, schema_editor):
    Clinic = apps.get_model("clients", "Clinic")
    Clinic.objects.filter(**_at(PREVIOUS)).update(**NEW)


def backwards(apps, schema_editor):
    Clinic = apps.get_model("clients", "Clinic")
    Clinic.objects.filter(**_at(NEW)).update(**PREVIOUS)


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0011_clinic_not_on_track_rearm_scores"),
    ]

    operations = [
        migrations.AlterField(
            model_name="clinic",
            name="first_limit_week",
            field=models.PositiveSmallIntegerField(
                default=4,
                help_text="First treatment week judged against the curve's tolerance band (intake is week 1). 4 by default (issue 16, docs/alerts.md): early dips that resolve peak in weeks 2–4; 2 judges every score after intake, as CLINICAL.md §4 reads.",
                validators=[
                    django.core.validators.MinValueValidator(2),
                    django.core.validators.MaxValueValidator(12),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="clinic",
            name="not_improving_share",
            field=models.FloatField(
                default=0.05,
                help_text="From week 3, a score worse than intake by more than this share of the reliable-change value is not on track (0.05 by default: any PHQ-9 or GAD-7 rise above intake; 0.3: PHQ-9 2 points). 0 turns it off, as CLINICAL.md §4 reads.",
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(0.95),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="clinic",
            name="not_on_track_rearm_scores",
            field=models.PositiveSmallIntegerField(
                default=3,
                help_text="After a run off the curve, a new not-on-track alert only once the measure has been back on track for this many scores in a row (3 by default; 1: any score on track re-arms).",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(12),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="clinic",
            name="z_yellow",
            field=models.FloatField(
                default=0.6,
                help_text="Tolerance z for 'yellow' (not on track), CLINICAL.md §4. 0.6 by default (issue 16, measured in docs/alerts.md); 1.2816 is CLINICAL.md's 90th percentile line, 1.6449 (the red line) the 'fewer false alarms' point.",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
