"""The Databricks STAND-IN, for development and tests. It is not Databricks:
it speaks the wire protocol of the endpoints Atrium's Databricks backend calls
(through databricks-sdk), one module per API surface (``jobs``, ``serving``
with its ``inference_tables``, ``sql``, ``unity_catalog``, ``mlflow``,
``workspace``, ``files``, ``billing``), each declaring its
routes for the shared router (``router``); state is kept by ``state``.

This module is the HTTP server: it answers ``GET /.well-known/databricks-config``
(the SDK probes it when a client is built) and the SCIM ``Me`` call, and
authenticates requests with ``Authorization: Bearer <token>``: a missing or
wrong token gets 401, ``denied_token`` gets 403 PERMISSION_DENIED. Errors are
Databricks-shaped: ``{"error_code": ..., "message": ...}`` with the matching
HTTP status. Request bodies are parsed with the SDK's own dataclasses.

Fault injection (tests): ``POST /stand-in/faults {"throttle": N}`` (or
``DatabricksStandIn.throttle(N)``) answers the next N API requests with 429
REQUEST_LIMIT_EXCEEDED (``Retry-After: 0``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .billing import BillingApi
from .files import FilesApi
from .jobs import JobsApi
from .mlflow import MlflowApi
from .router import ApiError, Router, route
from .serving import ServingApi
from .sql import WAREHOUSE_ID, StatementsApi
from .state import DEFAULT_ACCOUNT_ID, USER, WORKSPACE_ID, StateFile
from .system_tables import SystemTablesApi
from .unity_catalog import UnityCatalogApi
from .workspace import WorkspaceApi


class DatabricksStandIn(
    JobsApi,
    ServingApi,
    StatementsApi,
    SystemTablesApi,
    UnityCatalogApi,
    MlflowApi,
    WorkspaceApi,
    FilesApi,
    BillingApi,
    StateFile,
):
    """The stand-in server. ``pending_polls`` / ``running_polls`` say how many
    ``runs/get`` calls a run spends in each state; ``endpoint_polls`` how many
    endpoint GETs a config update takes; ``statement_chunk_rows`` how many rows
    a chunk of a SQL statement's result holds."""

    router: Router  # every surface's routes, set below the class

    def __init__(
        self,
        *,
        token: str = "dapi-stand-in",  # noqa: S107 - the stand-in's own test token
        denied_token: str = "dapi-denied",  # noqa: S107
        port: int = 0,
        host: str = "127.0.0.1",
        state_path: str | Path | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        pending_polls: int = 1,
        running_polls: int = 2,
        endpoint_polls: int = 2,
        programs_dir: str | Path | None = None,
        warehouse_ids: tuple[str, ...] = (WAREHOUSE_ID,),
        statement_chunk_rows: int = 1000,
        system_tables: bool = True,  # False: a workspace without the billing system tables
        file_roots: tuple[str | Path, ...] = (),  # folders the Files API serves (.files)
    ):
        self.system_tables = system_tables
        self.token = token
        self.denied_token = denied_token
        self.host = host
        self.port = port
        self.state_path = Path(state_path) if state_path else None
        self.account_id = account_id
        self.pending_polls = pending_polls
        self.running_polls = running_polls
        self.endpoint_polls = endpoint_polls
        self.programs_dir = Path(programs_dir).resolve() if programs_dir else None
        self.file_roots = tuple(Path(root).resolve() for root in file_roots)
        self._processes: dict[int, subprocess.Popen] = {}  # run id -> the program running it
        self.lock = threading.RLock()
        self.throttle_remaining = 0
        self.requests: list[tuple[str, str]] = []  # (method, path), for tests
        self._models: dict[str, Any] = {}  # source -> loaded pyfunc model
        self.warehouse_ids = tuple(warehouse_ids)
        self.statement_chunk_rows = statement_chunk_rows
        self._statements: dict[str, dict] = {}  # statement id -> status, manifest, result chunks
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # keep-alive sockets, closed on stop like a real restart
        self.state = self._load_state()

    # --- lifecycle ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DatabricksStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="databricks-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DatabricksStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- knobs -------------------------------------------------------------------

    def throttle(self, count: int) -> None:
        with self.lock:
            self.throttle_remaining = max(0, int(count))

    # --- dispatch --------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((method, path))
        try:
            found, params = self.router.resolve(method, path)
            if found.authenticated:
                self._authenticate(headers.get("Authorization", ""))
                with self.lock:
                    if self.throttle_remaining > 0:
                        self.throttle_remaining -= 1
                        raise ApiError(
                            429, "REQUEST_LIMIT_EXCEEDED", "Too many requests. Please try again later or wait."
                        )
            try:
                payload = json.loads(body) if body else {}
            except json.JSONDecodeError:
                raise ApiError(400, "MALFORMED_REQUEST", "Invalid JSON given in the body of the request") from None
            with self.lock:
                result = getattr(self, found.handler)(payload=payload, query=query, **params)
                self._save()
        except ApiError as error:
            return error.response()
        if isinstance(result, tuple):  # (content type, bytes, extra headers)
            content_type, data, extra = result
            return 200, {"Content-Type": content_type, **extra}, data
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    def _authenticate(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for this API."
            )
        if token == self.denied_token:
            raise ApiError(403, "PERMISSION_DENIED", "User does not have permission to perform this operation.")
        if token != self.token:
            raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")

    # --- the workspace and the stand-in's own knobs -------------------------------------

    @route("GET", r"^/\.well-known/databricks-config$", authenticated=False)
    def _well_known(self, **_):
        return {"oidc_endpoint": f"{self.url}/oidc", "workspace_id": WORKSPACE_ID, "account_id": self.account_id}

    @route("GET", r"^/api/2\.0/preview/scim/v2/Me$")
    def _me(self, **_):
        """The caller; the header names the workspace, as Databricks' does (the SDK's
        ``get_workspace_id`` reads it when host metadata did not say)."""
        body = {"id": "1", "userName": USER, "displayName": "Stand-in user", "active": True}
        return "application/json", json.dumps(body).encode(), {"X-Databricks-Org-Id": WORKSPACE_ID}

    @route("POST", r"^/stand-in/faults$", authenticated=False)
    def _faults(self, payload, **_):
        self.throttle_remaining = max(0, int(payload.get("throttle", 0)))
        return {"throttle": self.throttle_remaining}


DatabricksStandIn.router = Router.of(DatabricksStandIn)


class _Handler(BaseHTTPRequestHandler):
    standin: DatabricksStandIn
    protocol_version = "HTTP/1.1"
    server_version = "DatabricksStandIn/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, headers, data = self.standin.handle(self.command, self.path, self.headers, body)
        except Exception as exc:  # a bug in the stand-in: answer as the API does on an internal error
            status, headers = 500, {"Content-Type": "application/json"}
            data = json.dumps({"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}).encode()
        self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def setup(self):
        super().setup()
        with self.standin.lock:
            self.standin._connections.add(self.connection)

    def finish(self):
        with self.standin.lock:
            self.standin._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format, *args):  # quiet; never logs headers (they carry the token)
        pass
