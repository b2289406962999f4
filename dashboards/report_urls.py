"""Supervisors' reports and exports, mounted at ``reports/`` (namespace ``reports``)."""

from django.urls import path

from dashboards import report_views

app_name = "reports"

urlpatterns = [
    path("", report_views.report_page, name="report"),
    path("exports/", report_views.export_request, name="export_request"),
    path("exports/<uuid:job_id>/status/", report_views.export_status, name="export_status"),
    path("exports/<uuid:job_id>/download/", report_views.export_download, name="export_download"),
    path("subscription/", report_views.subscription_toggle, name="subscription"),
]
