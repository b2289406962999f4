from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.caseload, name="caseload"),
    path("outbox/", views.local_outbox, name="local_outbox"),
]
