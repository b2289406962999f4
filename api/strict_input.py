"""Request bodies and query strings are taken as the schema says, nothing looser.

DRF reads an empty form or query value ("ended_on=" in a multipart body, "?active=") of an
optional field as "not sent": a multipart ``ended_on=""`` closed an episode as of today, and
``?status=`` listed everything. The OpenAPI schema allows neither (a date is a date; an enum value
is one of its values), so an empty value is refused, naming the field, unless the field allows
blank text.
"""

from rest_framework import serializers

EMPTY_REFUSED = "An empty value is not allowed: send a value, or leave the field out."


class StrictInput(serializers.Serializer):
    def to_internal_value(self, data):
        if hasattr(data, "get"):
            errors = {
                name: [EMPTY_REFUSED]
                for name, field in self.fields.items()
                if not field.read_only
                and name in data
                and data.get(name) == ""
                and not getattr(field, "allow_blank", False)
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
