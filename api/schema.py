"""OpenAPI: the error responses every operation can give, documented once for all of them.

drf-spectacular documents the success response of each view from its serializers; the errors come
from DRF's machinery (authentication, permissions, throttling, validation, lookups) and are the
same everywhere, so they are added here rather than repeated on every view.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ErrorSerializer(serializers.Serializer):
    """``{"detail": "..."}``: what went wrong, in words."""

    detail = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    """400: an object with one key per invalid field (or ``non_field_errors``), each a list of
    messages; nested input gives nested objects or lists aligned with the input (``clients``,
    ``rows``). A body that is not valid JSON gives ``{"detail": "..."}``."""

    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)
    detail = serializers.CharField(required=False)


ERRORS = {
    "400": OpenApiResponse(ValidationErrorSerializer, "The input is invalid; nothing was changed."),
    "401": OpenApiResponse(ErrorSerializer, "No valid session or API token."),
    "403": OpenApiResponse(
        ErrorSerializer,
        "Signed in but not allowed: the second factor is not verified, or the CSRF token is "
        "missing (session only).",
    ),
    "404": OpenApiResponse(
        ErrorSerializer,
        "No such object within your scope (another clinic's or therapist's objects answer 404, "
        "as do pages past the end of a list).",
    ),
    "415": OpenApiResponse(
        ErrorSerializer, "The body's Content-Type is not one this operation accepts."
    ),
    "429": OpenApiResponse(ErrorSerializer, "Too many requests; retry after Retry-After seconds."),
}


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["401", "403", "429"]
        if self.method in UNSAFE_METHODS or getattr(self.view, "query_serializer_class", None):
            codes.append("400")
        if self.method in UNSAFE_METHODS:
            codes.append("415")
        paginated = self.method == "GET" and self._is_list_view() and self._get_paginator()
        if "{" in self.path or paginated:
            codes.append("404")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ERRORS[code], code)
        return dict(sorted(responses.items()))
