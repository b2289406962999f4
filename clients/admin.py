"""The admin: setup (clinics, teams, memberships) freely; client records only with a trail.

Clients, episodes and what hangs off them (plans, sessions, timeline events) are changed in the
services and pages for everyday work; the admin stays a repair tool, and every save there is
recorded in the audit log with the names of the fields changed, never their values (contact
details are encrypted at rest and must not reappear in the log). Clients and episodes cannot be
deleted here: erasure is the GDPR service (``privacy.services.client_erase``), which also clears
the outbox and audits the erasure. Check-ins are view only: their keys, states and times belong
to the sweep and the client's link.
"""

from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect

from audit.services import audit_record
from clients.models import (
    CheckIn,
    Client,
    Clinic,
    Episode,
    MeasurementPlan,
    Membership,
    Team,
    TimelineEvent,
    TreatmentSession,
)

# Audit action prefixes, as the services name the same records.
AUDIT_NAMES = {
    Client: "client",
    Episode: "episode",
    MeasurementPlan: "plan",
    TreatmentSession: "session",
    TimelineEvent: "timeline_event",
}


def _audit_admin_change(request, obj, verb: str, fields=()) -> None:
    if isinstance(obj, Client):
        clinic, client = obj.clinic, obj
    elif isinstance(obj, Episode):
        clinic, client = obj.clinic, obj.client
    else:
        clinic, client = obj.episode.clinic, obj.episode.client
    audit_record(
        actor=request.user,
        action=f"{AUDIT_NAMES[type(obj)]}.{verb}",
        obj=obj,
        clinic=clinic,
        client=client,
        request=request,
        details={"via": "admin", "fields": sorted(fields)},
    )


class AuditedAdmin(admin.ModelAdmin):
    """Every save, inline save and delete of a client record in the admin writes an audit entry,
    in the admin's own transaction (a failed save leaves no entry)."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and not form.changed_data:
            return
        _audit_admin_change(request, obj, "update" if change else "create", form.changed_data)

    def save_formset(self, request, form, formset, change):
        # Deleted rows are recorded first: after the delete they no longer have an id.
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                _audit_admin_change(request, deleted.instance, "delete")
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            _audit_admin_change(request, obj, "create", _names(formset, obj))
        for obj, fields in formset.changed_objects:
            _audit_admin_change(request, obj, "update", fields)

    def delete_model(self, request, obj):
        _audit_admin_change(request, obj, "delete")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                _audit_admin_change(request, obj, "delete")
            super().delete_queryset(request, queryset)


def _names(formset, obj) -> list[str]:
    for form in formset.forms:
        if form.instance is obj:
            return list(form.changed_data)
    return []


class TeamInline(admin.TabularInline):
    model = Team
    extra = 0


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "timezone")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [TeamInline]
    fieldsets = [
        (None, {"fields": ("name", "slug", "timezone")}),
        (
            "What clients see",
            {"fields": ("crisis_contacts", "contact_phone", "contact_email", "contact_hours")},
        ),
        (
            "Check-ins",
            {"fields": ("reminder_after_days", "expire_after_days", "missed_checkins_for_alert")},
        ),
        (
            "Alerts and recovery curves",
            {
                "fields": (
                    "urgent_escalation_hours",
                    "trajectory_min_episodes",
                    "z_yellow",
                    "z_red",
                    "first_limit_week",
                    "not_improving_share",
                    "sigma_floor",
                    "early_in_care_weeks",
                    "alliance_window_days",
                    "not_on_track_rearm_scores",
                )
            },
        ),
        ("Privacy", {"fields": ("retention_days",)}),
    ]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "clinic")
    list_filter = ("clinic",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "clinic", "role")
    list_filter = ("clinic", "role")
    filter_horizontal = ("teams",)
    autocomplete_fields = ("user",)


class EpisodeInline(admin.TabularInline):
    model = Episode
    extra = 0
    fields = ("therapist", "started_on", "ended_on", "end_reason", "status")
    readonly_fields = ("status",)
    can_delete = False  # an episode goes with its client's erasure, or by retention


@admin.register(Client)
class ClientAdmin(AuditedAdmin):
    list_display = ("label", "clinic", "timezone", "opted_out_at")
    list_filter = ("clinic",)
    search_fields = ("label",)
    inlines = [EpisodeInline]
    # privacy/admin.py adds "erase_client": erasure is privacy's service, and privacy sits above.
    actions = ["open_privacy_page"]

    def has_delete_permission(self, request, obj=None):
        # Django's delete would leave the outbox's mails to the client and audit nothing.
        return False

    def save_formset(self, request, form, formset, change):
        if formset.model is Episode:
            # An episode's clinic is its client's (denormalised for scoping, so the inline has
            # no field for it): without this a client added with an episode fails on NOT NULL.
            for episode_form in formset.forms:
                if episode_form.instance.pk is None:
                    episode_form.instance.clinic = formset.instance.clinic
        super().save_formset(request, form, formset, change)

    @admin.action(description="Export or erase the client's data on the privacy page (GDPR)")
    def open_privacy_page(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one client.", level=messages.WARNING)
            return None
        return redirect("privacy:client", client_id=queryset.get().pk)


class SessionInline(admin.TabularInline):
    model = TreatmentSession
    extra = 0


class EventInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    exclude = ("created_by",)


@admin.register(Episode)
class EpisodeAdmin(AuditedAdmin):
    list_display = ("client", "therapist", "started_on", "ended_on", "end_reason", "status")
    list_filter = ("clinic", "status", "end_reason")
    search_fields = ("client__label",)
    raw_id_fields = ("client",)
    inlines = [SessionInline, EventInline]

    def has_delete_permission(self, request, obj=None):
        # Its answers and alerts would go by cascade with no trail: erasure is privacy's.
        return False


@admin.register(MeasurementPlan)
class MeasurementPlanAdmin(AuditedAdmin):
    list_display = ("episode", "schedule", "weekday", "local_time", "paused_at", "ended_at")
    raw_id_fields = ("episode",)


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ("id", "episode", "kind", "due_at", "status", "sent_at", "completed_at")
    list_filter = ("status", "kind")
    raw_id_fields = ("episode", "treatment_session")
    exclude = ("key_hash", "reminder_key_hash")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TreatmentSession)
class TreatmentSessionAdmin(AuditedAdmin):
    list_display = ("episode", "starts_at", "attended")
    raw_id_fields = ("episode",)


@admin.register(TimelineEvent)
class TimelineEventAdmin(AuditedAdmin):
    list_display = ("episode", "occurred_on", "kind")
    raw_id_fields = ("episode",)
