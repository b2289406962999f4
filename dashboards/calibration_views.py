"""The clinic admin's calibration page: the operating points a clinic can choose, what each
would have cost in false alarms and gained in warnings on the clinic's own history, and the
action that applies one (``clients.services.clinic_operating_point_set``).

Thin: scope (404 for anyone but an admin of that clinic), call one selector or service, render or
redirect. The choice is a POST with CSRF, and takes two: the first shows what would change.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from clients.services import clinic_operating_point_set
from dashboards.calibration_selectors import (
    calibration_clinic,
    calibration_overview,
    operating_point_preview,
)
from dashboards.forms import OperatingPointForm


@login_required
@require_GET
def calibration_page(request):
    overview = calibration_overview(user=request.user, clinic_slug=request.GET.get("clinic"))
    return render(request, "dashboards/calibration.html", {"overview": overview})


@login_required
@require_POST
def operating_point_choose(request, clinic_slug):
    clinic, _others = calibration_clinic(user=request.user, clinic_slug=clinic_slug)
    form = OperatingPointForm(request.POST)
    if not form.is_valid():
        raise Http404  # only the page's own buttons post here; a made-up name is no point
    name = form.cleaned_data["point"]
    back = reverse("dashboards:calibration") + "?" + urlencode({"clinic": clinic.slug})
    if not form.cleaned_data["confirmed"]:
        preview = operating_point_preview(user=request.user, clinic_slug=clinic.slug, name=name)
        context = {"preview": preview, "back": back}
        return render(request, "dashboards/calibration_confirm.html", context)
    clinic_operating_point_set(actor=request.user, clinic=clinic, name=name, request=request)
    messages.success(
        request,
        f"{clinic.name} now uses the operating point “{name}”. Active clients' alerts are "
        "re-evaluated with it by the next sweep, within the hour at the latest.",
    )
    return redirect(back)
