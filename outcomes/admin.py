from django.contrib import admin

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
        # "sent" above means handed to the outbox; this is what SMTP made of it.
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


@admin.register(TrajectoryCurve)
class TrajectoryCurveAdmin(admin.ModelAdmin):
    list_display = ("clinic", "instrument", "band_low", "band_high", "source", "n_episodes")
    list_filter = ("clinic", "instrument", "source")
