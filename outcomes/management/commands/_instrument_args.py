"""Helpers shared by the instrument commands (the leading underscore keeps Django from listing
this module as a command)."""

from pathlib import Path

from django.core.management.base import CommandError

from clients.models import Clinic


def clinic_from_slug(slug: str | None):
    """The clinic named by ``--clinic``; None (every clinic on this installation) without it."""
    if slug is None:
        return None
    clinic = Clinic.objects.filter(slug=slug).first()
    if clinic is None:
        known = ", ".join(Clinic.objects.order_by("slug").values_list("slug", flat=True)[:20])
        raise CommandError(f"No clinic with slug {slug!r}. Clinics: {known or 'none yet'}.")
    return clinic


def read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from None


def refused(what: str, messages: list[str]) -> CommandError:
    """One line per problem, so a clinic can fix them all at once."""
    lines = "\n".join(f"  - {message}" for message in messages)
    return CommandError(f"{what} refused; nothing was stored:\n{lines}")
