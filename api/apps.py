from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self):
        # Accounts announces password changes; the API revokes the tokens issued under the old one.
        from api import receivers  # noqa: F401
