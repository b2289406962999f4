"""/api/v1/: the REST API for integrations (see docs/api.md)."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.views import alerts, checkins, clients, episodes, instruments, reports, responses

app_name = "api"


@csrf_exempt  # it changes nothing, whatever the method: a 404 must not turn into a CSRF 403
def api_not_found(request, *args, **kwargs):
    """Any other address under /api/v1/ (a negative id, a typo) answers 404 in JSON like the
    API's own 404s, not with the HTML page meant for browsers."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("instruments/", instruments.InstrumentListApi.as_view(), name="instruments"),
    path("instruments/<slug:code>/", instruments.InstrumentDetailApi.as_view(), name="instrument"),
    path("clients/", clients.ClientListCreateApi.as_view(), name="clients"),
    path("clients/bulk/", clients.ClientBulkCreateApi.as_view(), name="clients_bulk"),
    path("clients/import/", clients.ClientImportApi.as_view(), name="clients_import"),
    path("clients/<int:client_id>/", clients.ClientDetailApi.as_view(), name="client"),
    path("episodes/", episodes.EpisodeListCreateApi.as_view(), name="episodes"),
    path("episodes/<int:episode_id>/", episodes.EpisodeDetailApi.as_view(), name="episode"),
    path(
        "episodes/<int:episode_id>/close/",
        episodes.EpisodeCloseApi.as_view(),
        name="episode_close",
    ),
    path("episodes/<int:episode_id>/plan/", episodes.EpisodePlanApi.as_view(), name="plan"),
    path(
        "episodes/<int:episode_id>/plan/pause/",
        episodes.EpisodePlanPauseApi.as_view(),
        name="plan_pause",
    ),
    path(
        "episodes/<int:episode_id>/plan/resume/",
        episodes.EpisodePlanResumeApi.as_view(),
        name="plan_resume",
    ),
    path(
        "episodes/<int:episode_id>/responses/",
        responses.EpisodeResponsesApi.as_view(),
        name="responses",
    ),
    path(
        "episodes/<int:episode_id>/trajectory/",
        episodes.EpisodeTrajectoryApi.as_view(),
        name="trajectory",
    ),
    path("checkins/", checkins.CheckInListCreateApi.as_view(), name="checkins"),
    path("alerts/", alerts.AlertListApi.as_view(), name="alerts"),
    path("alerts/<int:alert_id>/", alerts.AlertDetailApi.as_view(), name="alert"),
    path(
        "alerts/<int:alert_id>/acknowledge/",
        alerts.AlertAcknowledgeApi.as_view(),
        name="alert_acknowledge",
    ),
    path("alerts/<int:alert_id>/resolve/", alerts.AlertResolveApi.as_view(), name="alert_resolve"),
    path("reports/outcomes/", reports.OutcomeReportApi.as_view(), name="report_outcomes"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs page is for people in a browser: sign in first, like every other staff page.
    path(
        "docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
    re_path(r"^", api_not_found, name="not_found"),
]
