"""Part of the Databricks STAND-IN (not Databricks): what its API surfaces
share. Errors shaped as Databricks answers them (``{"error_code": ...,
"message": ...}`` with the matching HTTP status) and a small router: each
surface marks its handlers with ``@route(method, path pattern)``; the server
builds one ``Router`` from all of them and answers an unknown path with 404
ENDPOINT_NOT_FOUND and a known path with the wrong method with 405, as
Databricks does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) as Databricks answers this error."""
        extra = {"Retry-After": "0"} if self.status == 429 else {}
        data = json.dumps({"error_code": self.code, "message": self.message}).encode()
        return self.status, {"Content-Type": "application/json", **extra}, data


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def already_exists(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_ALREADY_EXISTS", message)


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern
    handler: str  # the name of the stand-in's method that answers it
    authenticated: bool


def route(method: str, pattern: str, *, authenticated: bool = True) -> Callable:
    """Mark a handler as answering ``method`` on paths matching ``pattern``
    (named groups become keyword arguments, URL-decoded). A handler is called
    with ``payload`` (the JSON body) and ``query`` (the last value of each
    query parameter) and returns a JSON-able value or ``(content type, bytes,
    extra headers)``. ``authenticated=False``: no token needed (the SDK's
    config probe and the stand-in's own knobs)."""

    def mark(handler: Callable) -> Callable:
        handler.__dict__.setdefault("_routes", []).append((method, pattern, authenticated))
        return handler

    return mark


class Router:
    """(method, path) -> (route, path parameters), over the routes a class's handlers declare."""

    def __init__(self, routes: list[Route]):
        self.routes = routes

    @classmethod
    def of(cls, klass: type) -> Router:
        routes = []
        for base in reversed(klass.__mro__):
            for name, handler in vars(base).items():
                for method, pattern, authenticated in getattr(handler, "_routes", ()) if callable(handler) else ():
                    routes.append(Route(method, re.compile(pattern), name, authenticated))
        return cls(routes)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        matched = [r for r in self.routes if r.regex.match(path)]
        if not matched:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
        found = next((r for r in matched if r.method == method), None)
        if found is None:
            raise ApiError(405, "BAD_REQUEST", f"Method {method} is not supported for {path}")
        return found, {k: unquote(v) for k, v in found.regex.match(path).groupdict().items()}
