"""API tokens in the admin: create one for a user (its key is shown once, on the next page, and
never again), see when each was last used, revoke."""

from django.contrib import admin, messages
from django.utils import timezone

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "key_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "key_prefix")
    fields = ("user", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        # The key is made by the service, never typed in; nothing but the name changes later.
        always = ("key_prefix", "created_at", "last_used_at", "revoked_at")
        return always if obj is None else (*always, "user")

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps the trail of who had access and when

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = api_token_create(user=obj.user, name=obj.name, actor=request.user)
        obj.pk = issued.token.pk
        obj.key_prefix, obj.key_hash = issued.token.key_prefix, issued.token.key_hash
        obj.created_at = issued.token.created_at
        messages.warning(
            request,
            f"The key of '{obj.name}' is {issued.key} — copy it now: it is shown only this once.",
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request, queryset):
        revoked = sum(
            api_token_revoke(token=token, actor=request.user)
            for token in queryset.filter(revoked_at__isnull=True)
        )
        self.message_user(request, f"Revoked {revoked} token(s) at {timezone.now():%H:%M}.")
