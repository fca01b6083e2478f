"""DRF glue shared by every app's API."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import InvalidInput


def exception_handler(exc, context):
    """Services raise InvalidInput (or Django's ValidationError) and
    PermissionDenied, shared by the HTML views and the API; here they become
    400 and (in DRF itself) 403."""
    if isinstance(exc, InvalidInput):
        return Response(exc.errors, status=400)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
