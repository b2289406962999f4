"""Client link pages (mounted at ``c/``, namespace ``checkin``) and the staff entry page
(``staff_urlpatterns``, mounted at the site root, namespace ``clients``)."""

from django.urls import path, re_path

from checkins import views

app_name = "checkin"

urlpatterns = [
    path("opt-out/<str:token>/", views.opt_out, name="opt_out"),
    # Any token-like string reaches the view, which answers "unknown link" itself (a friendly
    # page, not Django's 404) for keys that do not match.
    re_path(r"^(?P<key>[A-Za-z0-9_-]{1,128})/$", views.checkin_form, name="form"),
    re_path(r"^(?P<key>[A-Za-z0-9_-]{1,128})/done/$", views.checkin_done, name="done"),
]

staff_urlpatterns = [
    path(
        "episodes/<int:episode_id>/enter/",
        views.episode_enter_responses,
        name="episode_enter",
    ),
]
