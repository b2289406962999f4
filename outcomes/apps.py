from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "outcomes"
    verbose_name = "Outcomes and alerts"

    def ready(self):
        # The outbox announces sent mails; outcomes mirrors them on alert notifications.
        from outcomes import receivers  # noqa: F401
