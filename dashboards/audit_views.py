"""The audit log for clinic admins: filter, page through, export as CSV (itself audited)."""

import csv
import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header

from audit.services import audit_record
from clients.models import Clinic
from dashboards.audit_forms import AuditFilterForm
from dashboards.audit_selectors import (
    audit_actions_in,
    audit_clinic_ids_for,
    audit_events_filter,
    audit_events_visible_to,
)
from lib.spreadsheet_cells import neutralise_formula

CSV_COLUMNS = [
    "time (UTC)",
    "staff",
    "action",
    "object type",
    "object id",
    "client",
    "IP address",
    "details",
]


def _filtered(request):
    if not audit_clinic_ids_for(request.user):
        raise Http404  # only clinic admins read the log; others learn nothing of it
    events = audit_events_visible_to(request.user)
    form = AuditFilterForm(request.GET or None, actions=audit_actions_in(events))
    filters = form.filters()
    return form, filters, audit_events_filter(events, **filters)


@login_required
def audit_log(request):
    form, filters, events = _filtered(request)
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "filtered": bool(filters)}
    return render(request, "dashboards/audit_log.html", context)


@login_required
def audit_export(request):
    _form, filters, events = _filtered(request)
    # Filed under each clinic exported, so every clinic's own log shows the export.
    for clinic in Clinic.objects.filter(pk__in=audit_clinic_ids_for(request.user)):
        audit_record(
            actor=request.user,
            action="audit.export",
            clinic=clinic,
            request=request,
            details={"filters": {name: str(value) for name, value in filters.items()}},
        )

    def rows():
        writer = csv.writer(_Echo())
        yield writer.writerow(CSV_COLUMNS)
        for event in events.iterator(chunk_size=2000):
            cells = [
                event.at.strftime("%Y-%m-%d %H:%M:%S"),
                event.actor_label,
                event.action,
                event.object_type,
                event.object_id,
                event.client.label if event.client else "",
                event.ip_address or "",
                json.dumps(event.details, sort_keys=True),
            ]
            yield writer.writerow([neutralise_formula(cell) for cell in cells])

    filename = f"audit-{timezone.now():%Y%m%d-%H%M}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=filename
    )
    return response


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value):
        return value
