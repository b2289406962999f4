from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "outcomes"
    verbose_name = "Outcomes and alerts"

    def ready(self):
        # The outbox announces sent mails; outcomes mirrors them on alert notifications.
        # Plans and check-ins (clients, below) ask for instruments through this lookup.
        from clients.checkins import instrument_lookup_register
        from outcomes import receivers  # noqa: F401
        from outcomes.selectors import instrument_for

        instrument_lookup_register(instrument_for)
