from django.urls import path

from dashboards import calibration_views, views

app_name = "dashboards"

urlpatterns = [
    path("", views.caseload, name="caseload"),
    path("episodes/<int:episode_id>/", views.episode_detail, name="episode"),
    path("episodes/<int:episode_id>/review/", views.episode_review, name="episode_review"),
    path("episodes/<int:episode_id>/events/", views.episode_event_add, name="episode_event_add"),
    path(
        "episodes/<int:episode_id>/plan/<str:action>/",
        views.episode_plan_change,
        name="episode_plan_change",
    ),
    path("episodes/<int:episode_id>/plan/", views.episode_plan_set, name="episode_plan_set"),
    path(
        "episodes/<int:episode_id>/checkins/",
        views.episode_checkin_send,
        name="episode_checkin_send",
    ),
    path(
        "episodes/<int:episode_id>/sessions/",
        views.episode_session_record,
        name="episode_session_record",
    ),
    path("clients/new/", views.client_add, name="client_add"),
    path("clients/import/", views.client_import, name="client_import"),
    path("episodes/<int:episode_id>/close/", views.episode_close_view, name="episode_close"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="alert_acknowledge"),
    path("alerts/<int:alert_id>/resolve/", views.alert_resolve, name="alert_resolve"),
    path("outbox/", views.local_outbox, name="local_outbox"),
    path("calibration/", calibration_views.calibration_page, name="calibration"),
    path(
        "calibration/<slug:clinic_slug>/operating-point/",
        calibration_views.operating_point_choose,
        name="operating_point_choose",
    ),
]
