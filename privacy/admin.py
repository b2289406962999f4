"""The client admin's erase action. Erasure is privacy's service (``client_erase``), and privacy
sits above clients (docs/architecture.md), so privacy extends the client admin rather than the
client admin importing privacy.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from clients.admin import ClientAdmin
from clients.models import Client
from privacy.services import client_erase


class ClientErasureAdmin(ClientAdmin):
    actions = [*ClientAdmin.actions, "erase_client"]

    @admin.action(
        description="Erase the client's data (GDPR); asks to confirm", permissions=["change"]
    )
    def erase_client(self, request, queryset):
        """The GDPR erasure service, after typing the client's label on a confirmation page
        (like Django's own "delete selected" confirmation)."""
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one client.", level=messages.WARNING)
            return None
        client = queryset.select_related("clinic").get()
        typed = request.POST.get("confirm_label")
        if typed is None:
            context = {
                **self.admin_site.each_context(request),
                "title": f"Erase {client.label}?",
                "opts": self.model._meta,
                "client": client,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "privacy/admin_erase_confirm.html", context)
        if typed.strip() != client.label:
            self.message_user(
                request,
                "Type the client's label exactly to confirm the erasure.",
                level=messages.ERROR,
            )
            return None
        label = client.label
        erased = client_erase(client=client, actor=request.user, reason="request", request=request)
        self.message_user(
            request,
            f"{label} is erased: {erased.episodes} episode(s), {erased.responses} response(s), "
            f"{erased.mails} queued mail(s). The audit log records the erasure.",
        )
        return None


admin.site.unregister(Client)
admin.site.register(Client, ClientErasureAdmin)
