from django.contrib import admin
from django.utils.html import format_html, format_html_join

from outcomes.instrument_admin import InstrumentDefinitionAdmin
from outcomes.models import (
    Administration,
    Alert,
    AlertNotification,
    InstrumentDefinition,
    TrajectoryCurve,
)

admin.site.register(InstrumentDefinition, InstrumentDefinitionAdmin)


class ViewOnly:
    """Answers and the alert lifecycle change only through the services (scored, alerted and
    audited there): the admin shows them and changes nothing, for superusers too."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Administration)
class AdministrationAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ("episode", "instrument", "administered_at", "total", "band", "risk", "source")
    list_filter = ("instrument", "source", "risk")
    raw_id_fields = ("episode", "checkin", "entered_by")


class NotificationInline(ViewOnly, admin.TabularInline):
    model = AlertNotification
    extra = 0
    fields = readonly_fields = (
        "recipient",
        "channel",
        "kind",
        "status",
        "attempts",
        "last_error",
        "delivery",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recipient", "email")

    @admin.display(description="Delivery (outbox)")
    def delivery(self, notification):
        # The status above follows the mail; this is how many tries SMTP took, and why not yet.
        mail = notification.email
        if mail is None:
            return "–"
        tries = f"{mail.get_status_display()} after {mail.attempts} attempt(s)"
        return f"{tries}: {mail.last_error}" if mail.last_error else tries


@admin.register(Alert)
class AlertAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ("episode", "rule", "severity", "state", "created_at", "escalation_level")
    list_filter = ("state", "rule", "severity", "clinic")
    raw_id_fields = ("episode", "administration")
    inlines = [NotificationInline]


#: What calibrate() found on the clinic's history, as (label, combined key, curve-only key).
CALIBRATION_ROWS = (
    ("Episodes", "n_episodes", "curve_n_episodes"),
    ("Ended reliably deteriorated", "n_deteriorated", "curve_n_deteriorated"),
    ("of them flagged before the end", "n_deteriorated_flagged", "curve_n_deteriorated_flagged"),
    ("Sensitivity", "sensitivity", "curve_sensitivity"),
    ("Median weeks of warning", "median_weeks_of_warning", "curve_median_weeks_of_warning"),
    ("Never deteriorated", "n_never_deteriorated", "curve_n_never_deteriorated"),
    (
        "of them flagged (false alarms)",
        "n_never_deteriorated_flagged",
        "curve_n_never_deteriorated_flagged",
    ),
    ("False-alarm rate", "false_alarm_rate", "curve_false_alarm_rate"),
)


RATES = ("sensitivity", "false_alarm_rate")


def _figure(value, *, rate=False) -> str:
    if value is None:
        return "–"
    return f"{value:.0%}" if rate else f"{value:g}"


@admin.register(TrajectoryCurve)
class TrajectoryCurveAdmin(ViewOnly, admin.ModelAdmin):
    """Curves are written by ``fit_trajectories`` (monthly beat, or the command): a hand-edited
    curve would change who is flagged with no fit, no n and no calibration behind it."""

    list_display = (
        "clinic", "instrument", "band_low", "band_high", "source", "n_episodes", "fitted_at",
        "sensitivity", "false_alarm_rate",
    )  # fmt: skip
    list_filter = ("clinic", "instrument", "source")
    exclude = ("calibration",)
    readonly_fields = ("calibration_table",)

    @admin.display(description="Sensitivity (status)")
    def sensitivity(self, curve):
        return _figure((curve.calibration or {}).get("sensitivity"), rate=True)

    @admin.display(description="False alarms (status)")
    def false_alarm_rate(self, curve):
        return _figure((curve.calibration or {}).get("false_alarm_rate"), rate=True)

    @admin.display(description="Calibration on the clinic's history")
    def calibration_table(self, curve):
        figures = curve.calibration or {}
        if not figures:
            return "Not calibrated yet: run manage.py fit_trajectories."
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (
                    label,
                    _figure(figures.get(combined), rate=combined in RATES),
                    _figure(figures.get(curve_only), rate=combined in RATES),
                )
                for label, combined, curve_only in CALIBRATION_ROWS
            ),
        )
        return format_html(
            "<table><thead><tr><th></th><th>Status (curve or reliable worsening)</th>"
            "<th>Curve alone</th></tr></thead><tbody>{}</tbody></table>"
            "<p>z yellow {}, z red {}. – : no rate on fewer than 10 episodes, or nobody warned. "
            "See docs/alerts.md, calibration.</p>",
            rows,
            figures.get("z_yellow", "–"),
            figures.get("z_red", "–"),
        )
