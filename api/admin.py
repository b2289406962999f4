"""API tokens in the admin: see whose they are and when each was last used, revoke.

Keys are made by their owner on their own "API keys" page (after the second factor), or by an
operator with ``manage.py create_api_token``: both show the key once, on that page or terminal.
The admin makes none, because its only way to show a key would be the messages cookie, which is
signed but not encrypted and would carry the key through the browser's storage.
"""

from django.contrib import admin
from django.utils import timezone

from api.models import ApiToken
from api.services import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Everything is shown, nothing typed: a key is made by its owner's page or the command.
    fields = (
        "user",
        "name",
        "key_prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_display = ("name", *fields[:1], *fields[2:])
    readonly_fields = ("user", *fields[2:])
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "key_prefix")
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps the trail of who had access and when

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request, queryset):
        revoked = sum(
            api_token_revoke(token=token, actor=request.user)
            for token in queryset.filter(revoked_at__isnull=True)
        )
        self.message_user(request, f"Revoked {revoked} token(s) at {timezone.now():%H:%M}.")
