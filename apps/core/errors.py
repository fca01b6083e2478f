"""The one family of domain errors. Services raise them; one DRF exception
handler (``apps.core.api``) and one view helper (``apps.core.htmx.domain_error_message``)
turn them into 400 / 409 with the message, so no view converts an error to a
status code by hand. 403 and 404 are Django's own ``PermissionDenied`` and
``Http404``, which pages and the API already answer alike."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain said no. ``status`` is the HTTP code it means;
    ``errors`` is per field (nested dicts allowed, lists of messages at the leaves)."""

    status = 400
    field = "detail"

    def __init__(self, message: str = "", *, errors: dict | None = None):
        self.errors = errors if errors is not None else {self.field: [message]}
        self.message = message or _first(self.errors)
        super().__init__(self.message)


class InvalidInput(DomainError):
    """Bad input, with errors per field. The API answers 400 with ``errors``;
    forms put each message beside its field."""

    def __init__(self, errors: dict):
        super().__init__(errors=errors)

    @classmethod
    def one(cls, field: str, message: str) -> InvalidInput:
        return cls({field: [message]})


class Conflict(DomainError):
    """The thing is not in a state that allows this (409): someone decided
    first, the run already ended..."""

    status = 409
    field = "status"


def _first(errors: dict) -> str:
    for value in errors.values():
        if isinstance(value, dict):
            return _first(value)
        if isinstance(value, list) and value:
            return str(value[0])
        return str(value)
    return ""
