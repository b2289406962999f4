from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("clients/<int:client_id>/", views.client_privacy, name="client"),
    path(
        "clients/<int:client_id>/export.json",
        views.client_export,
        {"fmt": "json"},
        name="export_json",
    ),
    path(
        "clients/<int:client_id>/export.pdf", views.client_export, {"fmt": "pdf"}, name="export_pdf"
    ),
    path("clients/<int:client_id>/erase/", views.client_erase_confirm, name="erase"),
]
