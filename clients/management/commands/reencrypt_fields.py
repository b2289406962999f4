"""Rewrite every encrypted field with the current key, after a key rotation.

Rotation: put the new key first in FIELD_ENCRYPTION_KEY and keep the old one after it (all keys
decrypt, the first encrypts), run this command, then drop the old key. Lookup digests beside an
encrypted value (``OutboundEmail.to_digest``) are rewritten with the new key too.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from lib.encrypted_fields import EncryptedTextField, lookup_digests

CHUNK = 500


def encrypted_fields(model) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        for model in apps.get_models():
            fields = encrypted_fields(model)
            if not fields:
                continue
            digests = getattr(model, "ENCRYPTED_LOOKUPS", {})
            rewritten = 0
            rows = model._base_manager.only("pk", *fields).order_by("pk")
            for row in rows.iterator(chunk_size=CHUNK):
                values = {name: getattr(row, name) for name in fields}
                for source, digest in digests.items():
                    values[digest] = lookup_digests(values[source])[0] if values[source] else ""
                with transaction.atomic():
                    # update() writes through the field, which encrypts with the first key.
                    rewritten += model._base_manager.filter(pk=row.pk).update(**values)
            self.stdout.write(f"{model._meta.label}: {rewritten} row(s) re-encrypted")
