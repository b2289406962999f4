"""The caller's network address, read the same way everywhere (sign-in lockout, link rate limit,
audit rows).

A ground-floor helper: every app may use it and it imports no app (an import-linter contract).
"""

import functools
import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The caller's address. X-Forwarded-For is believed only when the request came from one of
    ``TRUSTED_PROXIES`` (addresses or networks): walking it from the right, the first address
    that is not itself a trusted proxy is the caller. Anyone can send the header, so trusting
    it by *count* (as before) let a caller who reached the app directly forge any address: dodge
    the lockout and the link rate limit, or lock a colleague out."""
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _is_trusted_proxy(remote):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([part for part in forwarded if part]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a garbled chain: believe only what the proxy itself is
        if not _is_trusted_proxy(hop):
            return hop
    return remote


def _is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


@functools.lru_cache(maxsize=4)
def _trusted_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)
