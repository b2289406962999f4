"""The API's errors are JSON, including the ones Django raises while DRF reads the body."""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.exceptions import ParseError
from rest_framework.views import exception_handler

# Django raises these (SuspiciousOperation) when a body passes its limits
# (DATA_UPLOAD_MAX_NUMBER_FIELDS, DATA_UPLOAD_MAX_NUMBER_FILES, DATA_UPLOAD_MAX_MEMORY_SIZE).
# Left to Django they become its HTML "Bad Request" page, which an API client cannot read.
BODY_LIMITS = {
    TooManyFieldsSent: "The request has too many fields.",
    TooManyFilesSent: "The request has too many files.",
    RequestDataTooBig: "The request body is too large.",
}


def api_exception_handler(exc, context):
    for limit, message in BODY_LIMITS.items():
        if isinstance(exc, limit):
            exc = ParseError(message)
            break
    return exception_handler(exc, context)
