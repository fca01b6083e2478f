"""DRF glue shared by every app's API."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
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
    if isinstance(exc, RequestDataTooBig):  # a form body over DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"detail": f"Request body too large (at most {limit} bytes)."}, status=413)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
