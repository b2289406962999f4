"""Request rates per user and per anonymous address (settings.API_THROTTLE_RATES).

The rates are read when a request arrives rather than when the module is imported (DRF's own
classes freeze them at import), so a deployment's settings and the tests' overrides both apply.
"""

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class ApiUserRateThrottle(UserRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_RATES[self.scope]


class ApiAnonRateThrottle(AnonRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_RATES[self.scope]
