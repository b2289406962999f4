from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.views import StaffLoginView
from checkins.urls import staff_urlpatterns as clients_staff_urlpatterns
from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Pages name their icon with <link rel="icon">; feed readers, bookmarks and pages without a
    # <head> (file downloads, JSON) still ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.ico")), name="favicon"),
    path("login/", StaffLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    # The API keys page lives in api (it owns the tokens) but sits with the account pages.
    path("accounts/tokens/", include("api.page_urls")),
    path("audit/", include("dashboards.audit_urls")),
    path("privacy/", include("privacy.urls")),
    path("api/v1/", include("api.urls")),
    # The admin signs in through the same page as everyone else: lockout and second factor.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("c/", include("checkins.urls")),
    path("", include((clients_staff_urlpatterns, "clients"))),
    path("reports/", include("dashboards.report_urls")),
    path("", include("dashboards.urls")),
]
