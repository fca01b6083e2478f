"""The SDK clients, made from the connection's settings, and the mapping of
SDK and HTTP failures onto ``BackendError``.

The host, the token (PAT auth) and the timeouts are passed to the SDK
explicitly, so tests and the sandbox point a backend at the stand-in by URL.
A call gives up after the connection's ``timeout_seconds``, the SDK's retries
included (``retry_timeout_seconds``; ``http_timeout_seconds`` bounds each
request): an unreachable workspace is a transient error within that time, not
after the SDK's default five-minute retry budget. The SDK's ``Config`` also
probes the host once for its metadata (``/.well-known/databricks-config``),
bounded by the same timeouts, so a new client's first call to an unreachable
workspace may take up to twice the timeout. The token is never logged or put
in a message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager

import requests
from databricks.sdk import AccountClient, WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.config import Config

from ..base import BackendError


def sdk_config(
    host: str,
    token: str,
    *,
    timeout_seconds: float,
    retry_timeout_seconds: float | None = None,
    http_timeout_seconds: float | None = None,
    **extra,
) -> Config:
    """SDK configuration from our settings only: PAT auth, and bounded time.
    ``http_timeout_seconds`` bounds one HTTP request, ``retry_timeout_seconds``
    the SDK's retries of a call (connection refused, timeouts, throttling);
    both default to ``timeout_seconds``."""
    return Config(
        host=host,
        token=token,
        auth_type="pat",
        product="atrium",
        product_version="1",
        retry_timeout_seconds=max(1, math.ceil(retry_timeout_seconds or timeout_seconds)),
        http_timeout_seconds=float(http_timeout_seconds or timeout_seconds),
        **extra,
    )


def workspace_client(config: Callable[[], Config]) -> WorkspaceClient:
    """A client on ``config()`` (made here, so a configuration the SDK refuses is a ``BackendError``)."""
    with errors("connect"):
        return WorkspaceClient(config=config())


def account_client(config: Config) -> AccountClient:
    return AccountClient(config=config)


def check(client: Callable[[], WorkspaceClient]) -> list[dict]:
    """Read-only checks: who the token is, and that Unity Catalog and Model Serving answer.
    ``client`` makes the client, so a failure to make it is a failed check too."""
    results = []
    for name, call in (
        ("authentication", lambda: f"signed in as {client().current_user.me().user_name}"),
        ("unity catalog", lambda: readable(client().registered_models.list(max_results=1), "registered models")),
        ("model serving", lambda: readable(client().serving_endpoints.list(), "serving endpoints")),
    ):
        try:
            with errors(name):
                message = call()
            results.append({"check": name, "ok": True, "message": message})
        except BackendError as exc:
            results.append({"check": name, "ok": False, "message": exc.message})
    return results


def readable(items, what: str) -> str:
    next(iter(items), None)  # one page is enough to prove access
    return f"{what} readable"


@contextmanager
def errors(action: str):
    """SDK and HTTP failures as ``BackendError``: throttling, server errors and
    an unreachable host are transient; bad input, missing things and denied
    access are permanent."""
    try:
        yield
    except BackendError:
        raise
    except (dberrors.PermissionDenied, dberrors.Unauthenticated) as exc:
        raise BackendError(f"access denied: could not {action}: {message(exc)}", permanent=True) from None
    except (
        dberrors.TooManyRequests,
        dberrors.TemporarilyUnavailable,
        dberrors.InternalError,
        dberrors.DeadlineExceeded,
        dberrors.Aborted,
    ) as exc:
        raise BackendError(f"Databricks is busy or unavailable ({action}): {message(exc)}", permanent=False) from None
    except dberrors.ResourceConflict as exc:
        permanent = isinstance(exc, (dberrors.ResourceAlreadyExists, dberrors.AlreadyExists))
        raise BackendError(f"Could not {action}: {message(exc)}", permanent=permanent) from None
    except dberrors.DatabricksError as exc:
        # 400 / 404 / 501 and anything without a retryable status
        raise BackendError(f"Could not {action}: {message(exc)}", permanent=True) from None
    except (requests.ConnectionError, requests.Timeout, TimeoutError, ConnectionError) as exc:
        cause = exc.__cause__ if isinstance(exc, TimeoutError) and exc.__cause__ else exc
        detail = message(cause) if isinstance(cause, dberrors.DatabricksError) else type(cause).__name__
        raise BackendError(f"Databricks did not answer in time ({action}): {detail}", permanent=False) from None
    except ValueError as exc:  # the SDK's configuration checks
        raise BackendError(f"Could not {action}: {exc}", permanent=True) from None


def message(exc: dberrors.DatabricksError) -> str:
    code = getattr(exc, "error_code", "") or ""
    text = str(exc) or type(exc).__name__
    return f"{text} ({code})" if code and code not in text else text


def missing_ok(call):
    """The call's answer, or None when Databricks says the object does not exist."""
    try:
        return call()
    except dberrors.NotFound:
        return None
