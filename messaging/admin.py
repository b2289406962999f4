from django.contrib import admin

from messaging.models import OutboundEmail


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("id", "purpose", "status", "attempts", "last_error", "created_at", "sent_at")
    list_filter = ("status", "purpose")
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request):
        return False
