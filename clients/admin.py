from django.contrib import admin, messages
from django.shortcuts import redirect

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


class TeamInline(admin.TabularInline):
    model = Team
    extra = 0


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "timezone")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [TeamInline]
    fieldsets = [
        (None, {"fields": ("name", "slug", "timezone", "crisis_contacts")}),
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


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("label", "clinic", "timezone", "opted_out_at")
    list_filter = ("clinic",)
    search_fields = ("label",)
    inlines = [EpisodeInline]
    actions = ["open_privacy_page"]

    @admin.action(description="Export or erase the client's data (GDPR)")
    def open_privacy_page(self, request, queryset):
        # Erasure cannot be undone: it happens on the privacy page, after typing the label.
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
class EpisodeAdmin(admin.ModelAdmin):
    list_display = ("client", "therapist", "started_on", "ended_on", "end_reason", "status")
    list_filter = ("clinic", "status", "end_reason")
    search_fields = ("client__label",)
    raw_id_fields = ("client",)
    inlines = [SessionInline, EventInline]


@admin.register(MeasurementPlan)
class MeasurementPlanAdmin(admin.ModelAdmin):
    list_display = ("episode", "schedule", "weekday", "local_time", "paused_at", "ended_at")
    raw_id_fields = ("episode",)


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ("id", "episode", "kind", "due_at", "status", "sent_at", "completed_at")
    list_filter = ("status", "kind")
    raw_id_fields = ("episode", "treatment_session")
    exclude = ("key_hash",)


@admin.register(TreatmentSession)
class TreatmentSessionAdmin(admin.ModelAdmin):
    list_display = ("episode", "starts_at", "attended")
    raw_id_fields = ("episode",)


@admin.register(TimelineEvent)
class TimelineEventAdmin(admin.ModelAdmin):
    list_display = ("episode", "occurred_on", "kind")
    raw_id_fields = ("episode",)
