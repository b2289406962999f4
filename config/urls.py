from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clients.urls import staff_urlpatterns as clients_staff_urlpatterns
from config.health import healthz

admin.site.site_header = "Outcome tracker administration"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("c/", include("clients.urls")),
    path("", include((clients_staff_urlpatterns, "clients"))),
    path("", include("dashboards.urls")),
]
