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
#: Prospective (CLINICAL.md §4 step 6): a flag is a warning only before the client was reliably
#: worse; Lambert's weaker "flagged before the last score" is shown beside, labelled as such.
CALIBRATION_ROWS = (
    ("Episodes", "n_episodes", "curve_n_episodes"),
    ("Ended reliably deteriorated", "n_deteriorated", "curve_n_deteriorated"),
    (
        "of them warned before they were reliably worse",
        "n_deteriorated_flagged",
        "curve_n_deteriorated_flagged",
    ),
    ("Sensitivity (warned before reliably worse)", "sensitivity", "curve_sensitivity"),
    (
        "Median weeks from the warning to the first reliably-worse score",
        "median_weeks_of_warning",
        "curve_median_weeks_of_warning",
    ),
    (
        "Flagged at any score before the last (Lambert's weaker figure, not a warning)",
        "sensitivity_before_last",
        "curve_sensitivity_before_last",
    ),
    ("Never deteriorated", "n_never_deteriorated", "curve_n_never_deteriorated"),
    (
        "of them flagged (false alarms)",
        "n_never_deteriorated_flagged",
        "curve_n_never_deteriorated_flagged",
    ),
    ("False-alarm rate", "false_alarm_rate", "curve_false_alarm_rate"),
    (
        "… among those who improved",
        "false_alarm_rate_improved",
        "curve_false_alarm_rate_improved",
    ),
    (
        "… among those who dipped, then improved",
        "false_alarm_rate_dipped_then_improved",
        "curve_false_alarm_rate_dipped_then_improved",
    ),
    (
        "… among those with no reliable change",
        "false_alarm_rate_no_reliable_change",
        "curve_false_alarm_rate_no_reliable_change",
    ),
)


RATES = (
    "sensitivity",
    "sensitivity_before_last",
    "false_alarm_rate",
    "false_alarm_rate_improved",
    "false_alarm_rate_dipped_then_improved",
    "false_alarm_rate_no_reliable_change",
)


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
        points = format_html_join(
            "",
            "<tr><th>{}</th><td>{} / {}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    name,
                    point.get("z_yellow", "–"),
                    point.get("z_red", "–"),
                    point.get("not_improving_share", "–"),
                    point.get("first_limit_week", "–"),
                    _figure(point.get("curve_sensitivity"), rate=True),
                    _figure(point.get("curve_median_weeks_of_warning")),
                    _figure(point.get("curve_false_alarm_rate"), rate=True),
                    _figure(point.get("curve_false_alarm_rate_dipped_then_improved"), rate=True),
                )
                for name, point in (figures.get("operating_points") or {}).items()
            ),
        )
        return format_html(
            "<table><thead><tr><th></th><th>Status (curve or reliable worsening)</th>"
            "<th>Curve alone</th></tr></thead><tbody>{}</tbody></table>"
            "<p>z yellow {}, z red {}, band judged from week {}, σ floor {}, not improving "
            "beyond {} of the reliable change from week 3. Sensitivity "
            "counts a flag only when it came before the "
            "client was reliably worse than at intake: a flag raised after is not a warning. "
            "– : no rate on fewer than 10 episodes, or nobody warned. "
            "See docs/alerts.md, calibration.</p>"
            "<h4>Operating points on the same history (curve alone)</h4>"
            "<table><thead><tr><th></th><th>z yellow / red</th><th>Not improving share / "
            "band from week</th><th>Warned before reliably "
            "worse</th><th>Median weeks of warning</th><th>False alarms</th><th>False alarms "
            "on a dip that improved</th></tr></thead><tbody>{}</tbody></table>",
            rows,
            figures.get("z_yellow", "–"),
            figures.get("z_red", "–"),
            figures.get("first_limit_week", "–"),
            figures.get("sigma_floor", "–"),
            figures.get("not_improving_share", "–"),
            points,
        )
