"""Clinics still at the former yellow-z default (1.2816) move to the new one (1.6449).

Issue 16 tuned the defaults together: the not-improving limit (0009) plus the yellow line at the
red line. A clinic left at the old yellow z would get the new limit on top of the old line, the
combination that flagged about 12 % of clients who went on to improve (bench/bench_early_warning.py).
Clinics that chose another value keep it. A clinic that had chosen 1.2816 on purpose sets it again
on its settings page; its rules fingerprint changes either way, so the next sweep re-evaluates it.
"""

from django.db import migrations

FORMER_DEFAULT = 1.2816
NEW_DEFAULT = 1.6449


def forwards(apps, schema_editor):
    Clinic = apps.get_model("clients", "Clinic")
    Clinic.objects.filter(z_yellow=FORMER_DEFAULT).update(z_yellow=NEW_DEFAULT)


def backwards(apps, schema_editor):
    Clinic = apps.get_model("clients", "Clinic")
    Clinic.objects.filter(z_yellow=NEW_DEFAULT, z_red=NEW_DEFAULT).update(z_yellow=FORMER_DEFAULT)


class Migration(migrations.Migration):
    dependencies = [("clients", "0009_clinic_curve_settings")]

    operations = [migrations.RunPython(forwards, backwards)]
