"""The audit log's page, mounted at ``audit/`` (namespace ``audit``). It lives in dashboards, not
in audit: it reads clinics to scope the log, and audit (the recorder) sits below clients."""

from django.urls import path

from dashboards import audit_views

app_name = "audit"

urlpatterns = [
    path("", audit_views.audit_log, name="log"),
    path("export.csv", audit_views.audit_export, name="export"),
]
