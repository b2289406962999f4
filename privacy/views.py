"""A clinic admin's page for one client's data: export (JSON, PDF) and erase on request.

Only clinic admins of the client's clinic; anyone else gets 404, whether or not the client
exists. Every export and the erasure are audited.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from audit.services import audit_record
from clients.models import Role
from clients.selectors import clients_visible_to, role_in
from privacy.exports import export_json, export_pdf
from privacy.selectors import client_data_export
from privacy.services import client_erase


def _client_for_admin(request, client_id: int):
    client = clients_visible_to(request.user).select_related("clinic").filter(pk=client_id).first()
    if client is None or role_in(request.user, client.clinic) != Role.ADMIN:
        raise Http404
    return client


@never_cache
@login_required
def client_privacy(request, client_id: int):
    client = _client_for_admin(request, client_id)
    return render(request, "privacy/client.html", {"client": client})


@never_cache
@login_required
def client_export(request, client_id: int, fmt: str):
    client = _client_for_admin(request, client_id)
    data = client_data_export(client=client)
    audit_record(
        actor=request.user,
        action="client.export",
        obj=client,
        clinic=client.clinic,
        client=client,
        request=request,
        details={"format": fmt},
    )
    if fmt == "pdf":
        response = HttpResponse(export_pdf(data), content_type="application/pdf")
    else:
        response = HttpResponse(export_json(data), content_type="application/json")
    # The label, not the name, in the file name: file names end up in download histories. Only
    # letters, digits, "-" and "_" of it: a label is typed by staff, and one with quotes and
    # semicolons (`"; filename*=UTF-8''x.html; a="`) rewrote the header to save an HTML file.
    safe_label = re.sub(r"[^A-Za-z0-9_-]+", "_", client.label).strip("_") or "client"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"client-{safe_label}.{fmt}"
    )
    return response


@login_required
@require_POST
def client_erase_confirm(request, client_id: int):
    client = _client_for_admin(request, client_id)
    if request.POST.get("confirm_label", "").strip() != client.label:
        messages.error(request, "Type the client's label exactly to confirm the erasure.")
        return redirect("privacy:client", client_id=client.pk)
    label = client.label
    erased = client_erase(client=client, actor=request.user, reason="request", request=request)
    messages.success(
        request,
        f"{label} is erased: {erased.episodes} episode(s), {erased.responses} response(s). "
        "The audit log records the erasure.",
    )
    return redirect("dashboards:caseload")
