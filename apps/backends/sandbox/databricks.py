"""A STAND-IN for the Databricks REST API, for development and tests. It is
not Databricks: it speaks the wire protocol of the endpoints Atrium's
Databricks backend calls (through databricks-sdk), keeps its state in memory
(optionally in a JSON file, so a restarted stand-in still knows its runs and
endpoints), and has no cluster. By default a job run only passes through its
states over polls; with ``programs_dir`` (``--programs``, as ``make run``
starts it) it runs the run's uploaded workspace program on this machine, in a
folder of its own, with MLflow tracking and registering in a SQLite store
there, and registers the model the program reports in its Unity Catalog (the
version's ``source`` being the local model, which its serving loads).

What it answers:

* ``GET /.well-known/databricks-config`` (the SDK probes it when a client is built).
* Jobs: ``POST /api/2.2/jobs/runs/submit`` (``idempotency_token`` honoured),
  ``GET /api/2.2/jobs/runs/get`` (PENDING -> RUNNING -> TERMINATED over a few
  polls), ``GET /api/2.2/jobs/runs/get-output``, ``POST /api/2.2/jobs/runs/cancel``.
  A run whose name or any task parameter contains ``FAIL_MARKER`` ends
  TERMINATED/FAILED with a Databricks-style ``state_message``.
* Serving endpoints: create, get, ``PUT .../config``, delete, and
  ``POST /serving-endpoints/{name}/invocations``, answered by the real model:
  the served entity names a Unity Catalog model version whose ``source`` is an
  MLflow model URI, loaded with ``mlflow.pyfunc.load_model``. Config changes
  take a few GETs to become ready.
* Unity Catalog models (``/api/2.1/unity-catalog/models``), model versions
  (get / list), aliases (get / set / delete). Versions are created the way
  MLflow's Unity Catalog registry creates them
  (``/api/2.0/mlflow/unity-catalog/model-versions/create`` then ``/finalize``);
  the stand-in skips the artifact upload to ``storage_location`` and serves
  from ``source``.
* Workspace resources, as Atrium's workspace provisioning uses them: Unity
  Catalog schemas (create / get / delete, ``force`` deleting the models in
  them), workspace folders (``workspace/mkdirs``, ``get-status``, ``delete``
  with ``recursive``), workspace files (``workspace/import`` of base64
  content; a job run whose ``python_file`` is a workspace path that holds no
  file fails as on Databricks) and MLflow experiments (create / get / get-by-name /
  delete). Experiments are workspace objects: one is created in an existing
  folder, a recursive folder delete deletes the experiments in it, and a
  deleted experiment keeps its id (``lifecycle_stage`` "deleted") but frees its
  name. As on Databricks, workspace paths may carry the ``/Workspace`` prefix
  but experiment names are stored without it, and ``get-by-name`` matches the
  stored name only. Any catalog name is accepted.
* Billable usage: ``GET /api/2.0/accounts/{account_id}/usage/download`` returns
  the legacy billable-usage CSV (the one usage read the SDK offers without a
  SQL warehouse and system tables). Rows are seeded (``seed_usage`` /
  ``POST /stand-in/usage``) and every finished run adds one, tagged with its
  cluster's ``custom_tags``.

Requests are authenticated with ``Authorization: Bearer <token>``: a missing
or wrong token gets 401, ``denied_token`` gets 403 PERMISSION_DENIED. Errors
are Databricks-shaped: ``{"error_code": ..., "message": ...}`` with the
matching HTTP status. Request bodies are parsed with the SDK's own dataclasses.

Fault injection (tests): ``POST /stand-in/faults {"throttle": N}`` (or
``StandIn.throttle(N)``) answers the next N API requests with 429
REQUEST_LIMIT_EXCEEDED (``Retry-After: 0``).

Run it: ``python -m apps.backends.sandbox.databricks --port 8765 --token T --state var/databricks.json``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from databricks.sdk.service import catalog, jobs, ml, serving, workspace

FAIL_MARKER = "standin-fail"
WORKSPACE_ID = "1234567890123456"
DEFAULT_ACCOUNT_ID = "00000000-0000-0000-0000-000000000000"
WORKLOAD_SIZES = {"Small", "Medium", "Large"}
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
USAGE_COLUMNS = [
    "workspaceId",
    "timestamp",
    "clusterId",
    "clusterName",
    "clusterNodeType",
    "clusterOwnerUserId",
    "clusterCustomTags",
    "sku",
    "dbus",
    "machineHours",
    "clusterOwnerUserName",
    "tags",
]
USER = "stand-in@example.com"
WORKSPACE_ROOTS = ("/", "/Shared", "/Users")
UC_NAME = re.compile(r"^[^./\s\x00-\x1f]{1,255}$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def already_exists(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_ALREADY_EXISTS", message)


def _now_ms() -> int:
    return int(time.time() * 1000)


class DatabricksStandIn:
    """The stand-in server. ``pending_polls`` / ``running_polls`` say how many
    ``runs/get`` calls a run spends in each state; ``endpoint_polls`` how many
    endpoint GETs a config update takes."""

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
    ):
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
        self._processes: dict[int, subprocess.Popen] = {}  # run id -> the program running it
        self.lock = threading.RLock()
        self.throttle_remaining = 0
        self.requests: list[tuple[str, str]] = []  # (method, path), for tests
        self._models: dict[str, Any] = {}  # source -> loaded pyfunc model
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

    def seed_usage(self, rows: list[dict[str, Any]]) -> None:
        """Add usage rows: ``{"day": "YYYY-MM-DD", "dbus": float, "tags": {...},
        "sku": str, "cluster_id": str, "node_type": str}`` (all but day and dbus optional)."""
        with self.lock:
            for row in rows:
                self._add_usage(
                    day=str(row["day"]),
                    dbus=float(row["dbus"]),
                    tags=dict(row.get("tags") or {}),
                    sku=row.get("sku", "STANDARD_JOBS_COMPUTE"),
                    cluster_id=row.get("cluster_id", "seeded"),
                    node_type=row.get("node_type", "i3.xlarge"),
                )
            self._save()

    # --- state ---------------------------------------------------------------------

    def _empty_state(self) -> dict[str, Any]:
        return {
            "next_id": 1000,
            "runs": {},
            "tokens": {},
            "endpoints": {},
            "models": {},
            "usage": [],
            "schemas": {},
            "folders": {path: {"object_id": index + 1, "created_at": 0} for index, path in enumerate(WORKSPACE_ROOTS)},
            "files": {},
            "experiments": {},
        }

    def _load_state(self) -> dict[str, Any]:
        if self.state_path and self.state_path.is_file():
            return {**self._empty_state(), **json.loads(self.state_path.read_text())}
        return self._empty_state()

    def _save(self) -> None:
        if not self.state_path:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".standin-")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.state, handle)
        os.replace(tmp, self.state_path)

    def _new_id(self) -> int:
        self.state["next_id"] += 1
        return self.state["next_id"]

    # --- dispatch --------------------------------------------------------------------

    ROUTES: list[tuple[str, re.Pattern, str]] = [
        (m, re.compile(p), h)
        for m, p, h in [
            ("GET", r"^/\.well-known/databricks-config$", "well_known"),
            ("POST", r"^/stand-in/faults$", "faults"),
            ("POST", r"^/stand-in/usage$", "post_usage"),
            ("GET", r"^/api/2\.0/preview/scim/v2/Me$", "me"),
            ("POST", r"^/api/2\.[12]/jobs/runs/submit$", "runs_submit"),
            ("GET", r"^/api/2\.[12]/jobs/runs/get$", "runs_get"),
            ("GET", r"^/api/2\.[12]/jobs/runs/get-output$", "runs_get_output"),
            ("POST", r"^/api/2\.[12]/jobs/runs/cancel$", "runs_cancel"),
            ("POST", r"^/api/2\.0/serving-endpoints$", "endpoint_create"),
            ("GET", r"^/api/2\.0/serving-endpoints$", "endpoint_list"),
            ("GET", r"^/api/2\.0/serving-endpoints/(?P<name>[^/]+)$", "endpoint_get"),
            ("DELETE", r"^/api/2\.0/serving-endpoints/(?P<name>[^/]+)$", "endpoint_delete"),
            ("PUT", r"^/api/2\.0/serving-endpoints/(?P<name>[^/]+)/config$", "endpoint_update_config"),
            ("POST", r"^/serving-endpoints/(?P<name>[^/]+)/invocations$", "invocations"),
            ("POST", r"^/api/2\.1/unity-catalog/models$", "model_create"),
            ("GET", r"^/api/2\.1/unity-catalog/models$", "model_list"),
            ("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)$", "model_get"),
            ("DELETE", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)$", "model_delete"),
            ("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/versions$", "version_list"),
            ("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/versions/(?P<version>\d+)$", "version_get"),
            ("GET", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/aliases/(?P<alias>[^/]+)$", "alias_get"),
            ("PUT", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/aliases/(?P<alias>[^/]+)$", "alias_set"),
            ("DELETE", r"^/api/2\.1/unity-catalog/models/(?P<full>[^/]+)/aliases/(?P<alias>[^/]+)$", "alias_delete"),
            ("POST", r"^/api/2\.0/mlflow/unity-catalog/model-versions/create$", "mlflow_version_create"),
            ("POST", r"^/api/2\.0/mlflow/unity-catalog/model-versions/finalize$", "mlflow_version_finalize"),
            # registry mirror: version tags the way MLflow's Unity Catalog client reads and writes them
            ("GET", r"^/api/2\.0/mlflow/unity-catalog/model-versions/get$", "mlflow_version_get"),
            ("POST", r"^/api/2\.0/mlflow/unity-catalog/model-versions/set-tag$", "mlflow_version_set_tag"),
            ("DELETE", r"^/api/2\.0/mlflow/unity-catalog/model-versions/delete-tag$", "mlflow_version_delete_tag"),
            ("GET", r"^/api/2\.0/accounts/(?P<account>[^/]+)/usage/download$", "usage_download"),
            ("POST", r"^/api/2\.1/unity-catalog/schemas$", "schema_create"),
            ("GET", r"^/api/2\.1/unity-catalog/schemas/(?P<full>[^/]+)$", "schema_get"),
            ("DELETE", r"^/api/2\.1/unity-catalog/schemas/(?P<full>[^/]+)$", "schema_delete"),
            ("POST", r"^/api/2\.0/workspace/mkdirs$", "workspace_mkdirs"),
            ("POST", r"^/api/2\.0/workspace/import$", "workspace_import"),
            ("GET", r"^/api/2\.0/workspace/get-status$", "workspace_get_status"),
            ("POST", r"^/api/2\.0/workspace/delete$", "workspace_delete"),
            ("POST", r"^/api/2\.0/mlflow/experiments/create$", "experiment_create"),
            ("GET", r"^/api/2\.0/mlflow/experiments/get$", "experiment_get"),
            ("GET", r"^/api/2\.0/mlflow/experiments/get-by-name$", "experiment_get_by_name"),
            ("POST", r"^/api/2\.0/mlflow/experiments/delete$", "experiment_delete"),
        ]
    ]
    UNAUTHENTICATED = {"well_known", "faults", "post_usage"}

    def handle(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((method, path))
        try:
            matched = [(m, r, h) for m, r, h in self.ROUTES if r.match(path)]
            if not matched:
                raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
            route = next(((r, h) for m, r, h in matched if m == method), None)
            if route is None:
                raise ApiError(405, "BAD_REQUEST", f"Method {method} is not supported for {path}")
            regex, name = route
            if name not in self.UNAUTHENTICATED:
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
            params = {k: unquote(v) for k, v in regex.match(path).groupdict().items()}
            with self.lock:
                result = getattr(self, f"_{name}")(payload=payload, query=query, **params)
                self._save()
        except ApiError as error:
            extra = {"Retry-After": "0"} if error.status == 429 else {}
            data = json.dumps({"error_code": error.code, "message": error.message}).encode()
            return error.status, {"Content-Type": "application/json", **extra}, data
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

    # --- control ------------------------------------------------------------------------

    def _well_known(self, **_):
        return {"oidc_endpoint": f"{self.url}/oidc", "workspace_id": WORKSPACE_ID, "account_id": self.account_id}

    def _me(self, **_):
        return {"id": "1", "userName": USER, "displayName": "Stand-in user", "active": True}

    def _faults(self, payload, **_):
        self.throttle_remaining = max(0, int(payload.get("throttle", 0)))
        return {"throttle": self.throttle_remaining}

    def _post_usage(self, payload, **_):
        self.seed_usage(payload.get("rows", []))
        return {}

    # --- jobs ----------------------------------------------------------------------------

    def _runs_submit(self, payload, **_):
        token = payload.get("idempotency_token")
        if token is not None:
            if len(token) > 64:
                raise invalid("The idempotency token must be at most 64 characters.")
            if token in self.state["tokens"]:
                return jobs.SubmitRunResponse(run_id=self.state["tokens"][token]).as_dict()
        tasks = [jobs.SubmitTask.from_dict(t) for t in payload.get("tasks") or []]
        if not tasks:
            raise invalid("At least one task is required.")
        for task in tasks:
            if not task.task_key:
                raise invalid("Task key must be specified.")
            if not (task.spark_python_task or task.python_wheel_task or task.notebook_task):
                raise invalid(f"Task {task.task_key} needs a spark_python_task, python_wheel_task or notebook_task.")
            if not (task.new_cluster or task.existing_cluster_id or task.environment_key):
                raise invalid(f"Task {task.task_key} needs new_cluster, existing_cluster_id or environment_key.")
        run_id = self._new_id()
        run_name = payload.get("run_name") or "Untitled"
        text = json.dumps([run_name, [t.as_dict() for t in tasks]])
        task_runs = []
        for task in tasks:
            task_runs.append({"run_id": self._new_id(), "task": task.as_dict()})
        self.state["runs"][str(run_id)] = {
            "run_id": run_id,
            "run_name": run_name,
            "tasks": task_runs,
            "polls": 0,
            "fail": FAIL_MARKER in text,
            "cancelled": False,
            "start_time": _now_ms(),
            "end_time": 0,
            "life_cycle_state": "PENDING",
            "result_state": None,
            "state_message": "Waiting for cluster",
            "logs": [],
        }
        if token is not None:
            self.state["tokens"][token] = run_id
        return jobs.SubmitRunResponse(run_id=run_id).as_dict()

    def _find_run(self, run_id) -> tuple[dict, dict | None]:
        """(run, task run or None) for a run id or a task run id."""
        try:
            wanted = int(run_id)
        except (TypeError, ValueError):
            raise invalid(f"Invalid run_id: {run_id!r}") from None
        run = self.state["runs"].get(str(wanted))
        if run is not None:
            return run, None
        for run in self.state["runs"].values():
            for task_run in run["tasks"]:
                if task_run["run_id"] == wanted:
                    return run, task_run
        raise invalid(f"Run {wanted} does not exist.")

    def _advance_run(self, run: dict) -> None:
        if run["life_cycle_state"] in {"TERMINATED", "INTERNAL_ERROR", "SKIPPED"}:
            return
        run["polls"] += 1
        polls = run["polls"]
        first_task = run["tasks"][0]["task"]
        if run["cancelled"]:
            self._finish_run(run, "CANCELED", "Run cancelled.")
        elif polls <= self.pending_polls:
            run["life_cycle_state"], run["state_message"] = "PENDING", "Waiting for cluster"
        elif run["life_cycle_state"] == "PENDING" and (missing := self._missing_python_file(first_task)):
            run["error"] = f"FileNotFoundError: {missing}"
            run["logs"].append(run["error"])
            self._finish_run(run, "FAILED", f"Cannot read the python file {missing}: it does not exist.")
        elif self.programs_dir and not run["fail"]:
            self._advance_program(run, first_task)
        elif polls <= self.pending_polls + self.running_polls:
            if run["life_cycle_state"] != "RUNNING":
                run["logs"].append(f"Task {first_task['task_key']} started on the stand-in")
            run["life_cycle_state"], run["state_message"] = "RUNNING", "In run"
            run["logs"].append(f"Working ({polls - self.pending_polls}/{self.running_polls})")
        elif run["fail"]:
            run["error"] = f"RuntimeError: {FAIL_MARKER} requested this failure"
            run["logs"].append(run["error"])
            self._finish_run(
                run,
                "FAILED",
                f"Task {first_task['task_key']} failed with message: Workload failed, see run output for details.",
            )
        else:
            run["logs"].append("Task finished")
            self._finish_run(run, "SUCCESS", "")

    # --- running the program (``programs_dir``) ----------------------------------------------

    def _advance_program(self, run: dict, task: dict) -> None:
        process = self._processes.get(run["run_id"])
        folder = self.programs_dir / f"run-{run['run_id']}"
        if process is None and run["life_cycle_state"] == "PENDING":
            run["life_cycle_state"], run["state_message"] = "RUNNING", "In run"
            self._processes[run["run_id"]] = self._start_program(folder, task)
            return
        if process is None:  # a stand-in restarted mid-run: its program went with it
            self._finish_run(run, "FAILED", "The run's cluster was lost (the stand-in restarted).", "INTERNAL_ERROR")
            return
        run["logs"] = (folder / "output.txt").read_text(errors="replace").splitlines()
        if process.poll() is None:
            return
        del self._processes[run["run_id"]]
        if process.returncode != 0:
            run["error"] = next((line for line in reversed(run["logs"]) if line.strip()), "The program failed.")
            self._finish_run(run, "FAILED", f"Task {task['task_key']} failed with message: {run['error']}")
            return
        from apps.backends.databricks.backend import job_outputs
        from apps.backends.databricks.cluster_job import OUTPUTS_MARKER

        outputs = job_outputs(run["logs"])
        if outputs.get("model_uri") and outputs.get("model_name"):
            outputs["model_version"] = str(self._register_program_model(folder, outputs))
            run["logs"].append(OUTPUTS_MARKER + json.dumps(outputs, sort_keys=True))  # in the workspace's numbering
        self._finish_run(run, "SUCCESS", "")

    def _start_program(self, folder: Path, task: dict) -> subprocess.Popen:
        """The task's program and the files beside it, written out and run as a cluster runs it."""
        python_task = task["spark_python_task"]
        entry = _workspace_path(python_task["python_file"])
        code = entry.rsplit("/", 1)[0] + "/"
        for path, file in self.state["files"].items():
            if path.startswith(code):
                target = folder / "code" / path.removeprefix(code)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(file["content"]))
        store = f"sqlite:///{folder / 'mlflow.db'}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store}
        with open(folder / "output.txt", "wb") as output:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    str(folder / "code" / entry.rsplit("/", 1)[1]),
                    *python_task.get("parameters", []),
                ],
                cwd=folder,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _register_program_model(self, folder: Path, outputs: dict) -> int:
        """A Unity Catalog version of the model the program registered in its own store."""
        from mlflow import MlflowClient

        store = f"sqlite:///{folder / 'mlflow.db'}"
        name, version = outputs["model_name"], outputs["model_version"]
        source = MlflowClient(store, store).get_model_version_download_uri(name, version)
        catalog_name, schema_name, model_name = name.split(".", 2)
        if name not in self.state["models"]:
            self._model_create({"catalog_name": catalog_name, "schema_name": schema_name, "name": model_name})
        created = self._mlflow_version_create({"name": name, "source": source, "run_id": outputs.get("mlflow_run_id")})
        number = created["model_version"]["version"]
        self._mlflow_version_finalize({"name": name, "version": number})
        return int(number)

    def _missing_python_file(self, task: dict) -> str:
        """The task's workspace ``python_file`` if no file is there (DBFS, volume and Git files are not checked)."""
        path = (task.get("spark_python_task") or {}).get("python_file") or ""
        if not path.startswith("/") or path.startswith("/Volumes/"):
            return ""
        return "" if _workspace_path(path) in self.state["files"] else path

    def _finish_run(self, run: dict, result: str, message: str, life_cycle: str = "TERMINATED") -> None:
        run.update(life_cycle_state=life_cycle, result_state=result, state_message=message, end_time=_now_ms())
        cluster = run["tasks"][0]["task"].get("new_cluster") or {}
        self._add_usage(
            day=datetime.fromtimestamp(run["end_time"] / 1000, UTC).date().isoformat(),
            dbus=0.5,
            tags=cluster.get("custom_tags") or {},
            sku="STANDARD_JOBS_COMPUTE",
            cluster_id=f"run-{run['run_id']}",
            node_type=cluster.get("node_type_id") or "",
        )

    def _run_json(self, run: dict) -> dict:
        state = jobs.RunState(
            life_cycle_state=jobs.RunLifeCycleState(run["life_cycle_state"]),
            result_state=jobs.RunResultState(run["result_state"]) if run["result_state"] else None,
            state_message=run["state_message"],
            user_cancelled_or_timedout=run["cancelled"],
        )
        tasks = [
            jobs.RunTask(
                run_id=t["run_id"],
                task_key=t["task"]["task_key"],
                state=state,
                start_time=run["start_time"],
                end_time=run["end_time"],
            )
            for t in run["tasks"]
        ]
        return jobs.Run(
            run_id=run["run_id"],
            run_name=run["run_name"],
            state=state,
            tasks=tasks,
            start_time=run["start_time"],
            end_time=run["end_time"],
            run_type=jobs.RunType.SUBMIT_RUN,
            creator_user_name=USER,
            run_page_url=f"{self.url}/#job/runs/{run['run_id']}",
        ).as_dict()

    def _runs_get(self, query, **_):
        run, task_run = self._find_run(query.get("run_id"))
        if task_run is not None:
            raise invalid(f"Run {query.get('run_id')} is a task run; use runs/get with the parent run id.")
        self._advance_run(run)
        return self._run_json(run)

    def _runs_get_output(self, query, **_):
        run, task_run = self._find_run(query.get("run_id"))
        if task_run is None and len(run["tasks"]) > 1:
            raise invalid(
                "Retrieving the output of runs with multiple tasks is not supported. "
                "Please retrieve the output of each individual task run instead."
            )
        output = jobs.RunOutput(logs="\n".join(run["logs"]) + ("\n" if run["logs"] else ""), logs_truncated=False)
        if run["result_state"] == "FAILED":
            output.error = run.get("error") or "The run failed."
        return output.as_dict()

    def _runs_cancel(self, payload, **_):
        run, _task = self._find_run(payload.get("run_id"))
        if run["life_cycle_state"] != "TERMINATED":
            process = self._processes.pop(run["run_id"], None)
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            run["cancelled"] = True
            run["life_cycle_state"], run["state_message"] = "TERMINATING", "Cancellation requested"
        return {}

    # --- serving endpoints ------------------------------------------------------------------

    def _endpoint(self, name: str) -> dict:
        endpoint = self.state["endpoints"].get(name)
        if endpoint is None:
            raise not_found(f"Endpoint with name '{name}' does not exist.")
        return endpoint

    def _check_config(self, config_json: dict, previous: list[dict] | None) -> dict:
        """Validate an EndpointCoreConfigInput and return the stored config."""
        config = serving.EndpointCoreConfigInput.from_dict(config_json)
        raw_entities = config_json.get("served_entities") or []
        if not raw_entities:
            raise invalid("The endpoint config must have at least one served entity.")
        workload_types = {t.value for t in serving.ServingModelWorkloadType}
        names = set()
        entities = []
        for raw, entity in zip(raw_entities, config.served_entities, strict=True):
            if raw.get("workload_type", "CPU") not in workload_types:
                raise invalid(
                    f"Invalid workload type {raw.get('workload_type')!r}. Valid: {', '.join(sorted(workload_types))}."
                )
            if entity.workload_size not in WORKLOAD_SIZES:
                raise invalid(f"Invalid workload size {entity.workload_size!r}. Valid: Small, Medium, Large.")
            if not entity.entity_name or not entity.entity_version:
                raise invalid("A served entity needs entity_name and entity_version.")
            version = self._version(entity.entity_name, entity.entity_version)
            if version["status"] != "READY":
                raise invalid(f"Model version {entity.entity_name}/{entity.entity_version} is not READY.")
            name = entity.name or f"{entity.entity_name.split('.')[-1]}-{entity.entity_version}"
            if name in names:
                raise invalid(f"Served entity names must be unique: {name!r}.")
            names.add(name)
            old = next((e for e in previous or [] if e["name"] == name), None)
            same = old and (old["entity_name"], old["entity_version"]) == (entity.entity_name, entity.entity_version)
            entities.append(
                {
                    "name": name,
                    "entity_name": entity.entity_name,
                    "entity_version": entity.entity_version,
                    "workload_type": raw.get("workload_type", "CPU"),
                    "workload_size": entity.workload_size,
                    "scale_to_zero_enabled": bool(entity.scale_to_zero_enabled),
                    "creation_timestamp": old["creation_timestamp"] if same else _now_ms(),
                }
            )
        routes = config.traffic_config.routes if config.traffic_config and config.traffic_config.routes else None
        if routes is None:
            if len(entities) > 1:
                raise invalid("traffic_config is required when there is more than one served entity.")
            routes_out = [{"served_entity_name": entities[0]["name"], "traffic_percentage": 100}]
        else:
            routes_out = []
            for route in routes:
                target = route.served_entity_name or route.served_model_name
                if target not in names:
                    raise invalid(f"Route references unknown served entity {target!r}.")
                if not 0 <= route.traffic_percentage <= 100:
                    raise invalid("traffic_percentage must be between 0 and 100.")
                routes_out.append({"served_entity_name": target, "traffic_percentage": route.traffic_percentage})
            if sum(r["traffic_percentage"] for r in routes_out) != 100:
                raise invalid("The traffic percentages of the routes must add up to 100.")
        return {"served_entities": entities, "routes": routes_out}

    def _endpoint_create(self, payload, **_):
        name = payload.get("name") or ""
        if not ENDPOINT_NAME.match(name):
            raise invalid(
                "Endpoint name must be 1-63 characters: letters, digits, '-' or '_', starting with a letter or digit."
            )
        if name in self.state["endpoints"]:
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", f"Endpoint with name '{name}' already exists.")
        config = self._check_config(payload.get("config") or {}, None)
        tags = [serving.EndpointTag.from_dict(t).as_dict() for t in payload.get("tags") or []]
        self.state["endpoints"][name] = {
            "name": name,
            "id": uuid.uuid4().hex,
            "created": _now_ms(),
            "updated": _now_ms(),
            "tags": tags,
            "config": None,
            "config_version": 0,
            "pending": config,
            "pending_polls": self.endpoint_polls,
            "pending_start": _now_ms(),
        }
        return self._endpoint_json(self.state["endpoints"][name])

    def _advance_endpoint(self, endpoint: dict) -> None:
        if endpoint["pending"] is None:
            return
        endpoint["pending_polls"] -= 1
        if endpoint["pending_polls"] <= 0:
            endpoint["config"] = endpoint["pending"]
            endpoint["config_version"] += 1
            endpoint["pending"] = None
            endpoint["updated"] = _now_ms()

    def _config_json(self, config: dict, deployment: str) -> dict:
        entities = [
            serving.ServedEntityOutput(
                name=e["name"],
                entity_name=e["entity_name"],
                entity_version=e["entity_version"],
                workload_type=serving.ServingModelWorkloadType(e["workload_type"]),
                workload_size=e["workload_size"],
                scale_to_zero_enabled=e["scale_to_zero_enabled"],
                creation_timestamp=e["creation_timestamp"],
                creator=USER,
                state=serving.ServedModelState(
                    deployment=serving.ServedModelStateDeployment(deployment),
                    deployment_state_message="" if deployment == "DEPLOYMENT_READY" else "Creating the served entity",
                ),
            ).as_dict()
            for e in config["served_entities"]
        ]
        traffic = serving.TrafficConfig(routes=[serving.Route.from_dict(r) for r in config["routes"]]).as_dict()
        return {"served_entities": entities, "traffic_config": traffic}

    def _endpoint_json(self, endpoint: dict) -> dict:
        ready = endpoint["config"] is not None
        updating = endpoint["pending"] is not None
        body: dict[str, Any] = {
            "name": endpoint["name"],
            "id": endpoint["id"],
            "creator": USER,
            "creation_timestamp": endpoint["created"],
            "last_updated_timestamp": endpoint["updated"],
            "tags": endpoint["tags"],
            "state": serving.EndpointState(
                ready=serving.EndpointStateReady.READY if ready else serving.EndpointStateReady.NOT_READY,
                config_update=serving.EndpointStateConfigUpdate.IN_PROGRESS
                if updating
                else serving.EndpointStateConfigUpdate.NOT_UPDATING,
            ).as_dict(),
        }
        if ready:
            body["config"] = {
                **self._config_json(endpoint["config"], "DEPLOYMENT_READY"),
                "config_version": endpoint["config_version"],
            }
        if updating:
            body["pending_config"] = {
                **self._config_json(endpoint["pending"], "DEPLOYMENT_CREATING"),
                "config_version": endpoint["config_version"] + 1,
                "start_time": endpoint["pending_start"],
            }
        return serving.ServingEndpointDetailed.from_dict(body).as_dict()

    def _endpoint_get(self, name, **_):
        endpoint = self._endpoint(name)
        self._advance_endpoint(endpoint)
        return self._endpoint_json(endpoint)

    def _endpoint_list(self, **_):
        return {"endpoints": [{"name": e["name"], "id": e["id"]} for e in self.state["endpoints"].values()]}

    def _endpoint_update_config(self, name, payload, **_):
        endpoint = self._endpoint(name)
        if endpoint["pending"] is not None:
            raise ApiError(
                409,
                "RESOURCE_CONFLICT",
                f"Endpoint '{name}' is currently being updated. Please wait for the update to finish.",
            )
        current = endpoint["config"]["served_entities"] if endpoint["config"] else None
        endpoint["pending"] = self._check_config(payload, current)
        endpoint["pending_polls"] = self.endpoint_polls
        endpoint["pending_start"] = _now_ms()
        return self._endpoint_json(endpoint)

    def _endpoint_delete(self, name, **_):
        self._endpoint(name)
        del self.state["endpoints"][name]
        return {}

    def _invocations(self, name, payload, **_):
        endpoint = self._endpoint(name)
        if endpoint["config"] is None:
            raise ApiError(400, "INVALID_STATE", f"Endpoint '{name}' is not ready yet.")
        config = endpoint["config"]
        routes = [r for r in config["routes"] if r["traffic_percentage"] > 0]
        chosen = random.choices(routes, weights=[r["traffic_percentage"] for r in routes])[0]["served_entity_name"]
        entity = next(e for e in config["served_entities"] if e["name"] == chosen)
        source = self._version(entity["entity_name"], entity["entity_version"])["source"]
        frame = _input_frame(payload)
        model = self._load_model(source)
        try:
            predictions = model.predict(frame)
        except Exception as exc:  # the model's own error, as serving reports it
            raise ApiError(400, "BAD_REQUEST", f"Model prediction failed: {exc}") from None
        return (
            "application/json",
            json.dumps({"predictions": _jsonable(predictions)}).encode(),
            {"served-model-name": chosen},
        )

    def _load_model(self, source: str):
        model = self._models.get(source)
        if model is None:
            import mlflow.pyfunc

            try:
                model = mlflow.pyfunc.load_model(source)
            except Exception as exc:
                raise ApiError(500, "INTERNAL_ERROR", f"Could not load model from {source}: {exc}") from None
            self._models[source] = model
        return model

    # --- unity catalog -----------------------------------------------------------------------

    def _model(self, full: str) -> dict:
        model = self.state["models"].get(full)
        if model is None:
            raise not_found(f"Registered model '{full}' does not exist.")
        return model

    def _version(self, full: str, version) -> dict:
        found = self._model(full)["versions"].get(str(version))
        if found is None:
            raise not_found(f"Model version '{full}/{version}' does not exist.")
        return found

    def _model_json(self, model: dict, aliases: bool = True) -> dict:
        catalog_name, schema_name, name = model["full_name"].split(".")
        info = catalog.RegisteredModelInfo(
            full_name=model["full_name"],
            catalog_name=catalog_name,
            schema_name=schema_name,
            name=name,
            comment=model.get("comment"),
            created_at=model["created_at"],
            created_by=USER,
            owner=USER,
            storage_location=f"s3://stand-in/models/{model['full_name']}",
        )
        if aliases:
            info.aliases = [
                catalog.RegisteredModelAlias(alias_name=alias, version_num=int(version))
                for alias, version in sorted(model["aliases"].items())
            ]
        return info.as_dict()

    def _version_json(self, model: dict, version: dict, aliases: bool = True) -> dict:
        catalog_name, schema_name, name = model["full_name"].split(".")
        info = catalog.ModelVersionInfo(
            model_name=name,
            catalog_name=catalog_name,
            schema_name=schema_name,
            version=int(version["version"]),
            source=version["source"],
            run_id=version.get("run_id") or None,
            comment=version.get("description") or None,
            status=catalog.ModelVersionInfoStatus(version["status"]),
            storage_location=version["storage_location"],
            created_at=version["created_at"],
            created_by=USER,
            id=version["id"],
        )
        if aliases:
            info.aliases = [
                catalog.RegisteredModelAlias(alias_name=alias, version_num=int(v))
                for alias, v in sorted(model["aliases"].items())
                if str(v) == str(version["version"])
            ]
        return info.as_dict()

    def _model_create(self, payload, **_):
        info = catalog.RegisteredModelInfo.from_dict(payload)
        if not (info.catalog_name and info.schema_name and info.name):
            raise invalid("catalog_name, schema_name and name are required.")
        full = f"{info.catalog_name}.{info.schema_name}.{info.name}"
        if full in self.state["models"]:
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", f"Registered model '{full}' already exists.")
        self.state["models"][full] = {
            "full_name": full,
            "comment": info.comment,
            "created_at": _now_ms(),
            "versions": {},
            "aliases": {},
        }
        return self._model_json(self.state["models"][full])

    def _model_list(self, **_):
        return {"registered_models": [self._model_json(m, aliases=False) for m in self.state["models"].values()]}

    def _model_get(self, full, query, **_):
        return self._model_json(self._model(full), aliases=query.get("include_aliases") == "true")

    def _model_delete(self, full, **_):
        self._model(full)
        del self.state["models"][full]
        return {}

    def _version_list(self, full, **_):
        model = self._model(full)
        versions = sorted(model["versions"].values(), key=lambda v: -int(v["version"]))
        return {"model_versions": [self._version_json(model, v, aliases=False) for v in versions]}

    def _version_get(self, full, version, query, **_):
        model = self._model(full)
        return self._version_json(model, self._version(full, version), aliases=query.get("include_aliases") == "true")

    def _alias_get(self, full, alias, **_):
        model = self._model(full)
        if alias not in model["aliases"]:
            raise not_found(f"Alias '{alias}' does not exist for registered model '{full}'.")
        return self._version_json(model, model["versions"][str(model["aliases"][alias])])

    def _alias_set(self, full, alias, payload, **_):
        model = self._model(full)
        version = payload.get("version_num")
        if version is None:
            raise invalid("version_num is required.")
        self._version(full, version)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$", alias) or re.match(r"^v\d+$", alias, re.IGNORECASE):
            raise invalid(f"Invalid alias name {alias!r}.")
        model["aliases"][alias] = int(version)
        catalog_name, schema_name, name = full.split(".")
        return catalog.RegisteredModelAlias(
            alias_name=alias,
            version_num=int(version),
            catalog_name=catalog_name,
            schema_name=schema_name,
            model_name=name,
        ).as_dict()

    def _alias_delete(self, full, alias, **_):
        model = self._model(full)
        if alias not in model["aliases"]:
            raise not_found(f"Alias '{alias}' does not exist for registered model '{full}'.")
        del model["aliases"][alias]
        return {}

    def _mlflow_version_json(self, model: dict, version: dict) -> dict:
        return {
            "model_version": {
                "name": model["full_name"],
                "version": str(version["version"]),
                "source": version["source"],
                "run_id": version.get("run_id") or "",
                "description": version.get("description") or "",
                "status": version["status"],
                "storage_location": version["storage_location"],
                "creation_timestamp": version["created_at"],
                "last_updated_timestamp": version["created_at"],
            }
        }

    def _mlflow_version_create(self, payload, **_):
        full = payload.get("name") or ""
        model = self._model(full)
        if not payload.get("source"):
            raise invalid("source is required.")
        number = max((int(v) for v in model["versions"]), default=0) + 1
        version = {
            "version": number,
            "source": payload["source"],
            "run_id": payload.get("run_id") or "",
            "description": payload.get("description") or "",
            "status": "PENDING_REGISTRATION",
            "storage_location": f"s3://stand-in/models/{full}/versions/{number}",
            "created_at": _now_ms(),
            "id": uuid.uuid4().hex,
        }
        model["versions"][str(number)] = version
        return self._mlflow_version_json(model, version)

    def _mlflow_version_finalize(self, payload, **_):
        full = payload.get("name") or ""
        model = self._model(full)
        version = self._version(full, payload.get("version"))
        version["status"] = "READY"
        return self._mlflow_version_json(model, version)

    # registry mirror: model version tags (MLflow's Unity Catalog API)

    def _mlflow_version_get(self, query, **_):
        full = query.get("name") or ""
        model = self._model(full)
        version = self._version(full, query.get("version"))
        found = self._mlflow_version_json(model, version)
        found["model_version"]["tags"] = [{"key": k, "value": v} for k, v in sorted(version.get("tags", {}).items())]
        return found

    def _mlflow_version_set_tag(self, payload, **_):
        version = self._version(payload.get("name") or "", payload.get("version"))
        if not payload.get("key"):
            raise invalid("key is required.")
        version.setdefault("tags", {})[payload["key"]] = str(payload.get("value", ""))
        return {}

    def _mlflow_version_delete_tag(self, payload, query, **_):
        args = {**query, **payload}
        version = self._version(args.get("name") or "", args.get("version"))
        if args.get("key") not in version.get("tags", {}):
            raise not_found(f"Tag '{args.get('key')}' does not exist on this model version.")
        del version["tags"][args["key"]]
        return {}

    # --- unity catalog schemas ---------------------------------------------------------------

    def _schema(self, full: str) -> dict:
        schema = self.state["schemas"].get(full.lower())
        if schema is None:
            raise not_found(f"Schema '{full}' does not exist.")
        return schema

    def _schema_json(self, schema: dict) -> dict:
        return catalog.SchemaInfo(
            full_name=schema["full_name"],
            catalog_name=schema["catalog_name"],
            name=schema["name"],
            comment=schema.get("comment"),
            properties=schema.get("properties") or None,
            schema_id=schema["schema_id"],
            owner=USER,
            created_by=USER,
            updated_by=USER,
            created_at=schema["created_at"],
            updated_at=schema["created_at"],
            metastore_id=WORKSPACE_ID,
            catalog_type=catalog.CatalogType.MANAGED_CATALOG,
            storage_location=f"s3://stand-in/catalogs/{schema['catalog_name']}/schemas/{schema['schema_id']}",
        ).as_dict()

    def _schema_create(self, payload, **_):
        info = catalog.SchemaInfo.from_dict(payload)
        if not info.catalog_name or not info.name:
            raise invalid("catalog_name and name are required.")
        if not UC_NAME.match(info.name):
            raise invalid(f"Invalid schema name {info.name!r}: no '.', ' ', '/' or control characters.")
        name = info.name.lower()  # Unity Catalog stores names in lower case
        full = f"{info.catalog_name.lower()}.{name}"
        if full in self.state["schemas"]:
            raise already_exists(f"Schema '{name}' already exists")
        properties = info.properties or {}
        if any(not isinstance(v, str) for v in properties.values()):
            raise invalid("Schema properties must be strings.")
        self.state["schemas"][full] = {
            "full_name": full,
            "catalog_name": info.catalog_name.lower(),
            "name": name,
            "comment": info.comment,
            "properties": dict(properties),
            "schema_id": str(uuid.uuid4()),
            "created_at": _now_ms(),
        }
        return self._schema_json(self.state["schemas"][full])

    def _schema_get(self, full, **_):
        return self._schema_json(self._schema(full))

    def _schema_delete(self, full, query, **_):
        schema = self._schema(full)
        models = [m for m in self.state["models"] if m.lower().startswith(schema["full_name"] + ".")]
        if models and query.get("force") != "true":
            raise ApiError(
                400,
                "SCHEMA_NOT_EMPTY",
                f"Cannot delete schema '{schema['full_name']}': it contains {len(models)} object(s).",
            )
        for model in models:
            del self.state["models"][model]
        del self.state["schemas"][schema["full_name"]]
        return {}

    # --- workspace folders ---------------------------------------------------------------------

    def _active_experiment_named(self, name: str) -> dict | None:
        return next(
            (e for e in self.state["experiments"].values() if e["name"] == name and e["lifecycle_stage"] == "active"),
            None,
        )

    def _workspace_mkdirs(self, payload, **_):
        path = _workspace_path(payload.get("path"))
        prefix = ""
        for part in path.strip("/").split("/"):
            prefix = f"{prefix}/{part}"
            if self._active_experiment_named(prefix) is not None or prefix in self.state["files"]:
                raise already_exists(f"Path ({prefix}) already exists and is not a directory.")
            if prefix not in self.state["folders"]:
                self.state["folders"][prefix] = {"object_id": self._new_id(), "created_at": _now_ms()}
        return {}

    def _workspace_import(self, payload, **_):
        # the SDK has no request dataclass for this call: its own checks, then ours
        path = _workspace_path(payload.get("path"))
        try:
            workspace.ImportFormat(payload.get("format") or "SOURCE")
        except ValueError:
            raise invalid(f"Unknown format {payload.get('format')!r}.") from None
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self.state["folders"]:
            raise not_found(f"The parent folder ({parent}) does not exist.")
        if path in self.state["folders"] or (path in self.state["files"] and not payload.get("overwrite")):
            raise already_exists(f"Path ({path}) already exists.")
        try:
            content = base64.b64decode(payload.get("content") or "", validate=True)
        except ValueError:
            raise invalid("The content must be base64-encoded.") from None
        created = self.state["files"].get(path, {}).get("created_at") or _now_ms()
        self.state["files"][path] = {
            "object_id": self._new_id(),
            "created_at": created,
            "modified_at": _now_ms(),
            "size": len(content),
            "content": payload.get("content") or "",
        }
        return {}

    def _workspace_get_status(self, query, **_):
        path = _workspace_path(query.get("path"))
        for kind, found in (
            (workspace.ObjectType.FILE, self.state["files"].get(path)),
            (workspace.ObjectType.DIRECTORY, self.state["folders"].get(path)),
        ):
            if found is not None:
                return workspace.ObjectInfo(
                    path=path,
                    object_type=kind,
                    object_id=found["object_id"],
                    resource_id=str(found["object_id"]),
                    created_at=found["created_at"],
                    modified_at=found.get("modified_at", found["created_at"]),
                    size=found.get("size"),
                ).as_dict()
        experiment = self._active_experiment_named(path)
        if experiment is not None:  # the SDK's ObjectType does not list this one
            return {
                "path": path,
                "object_type": "MLFLOW_EXPERIMENT",
                "object_id": int(experiment["experiment_id"]),
                "resource_id": experiment["experiment_id"],
            }
        raise not_found(f"Path ({path}) doesn't exist.")

    def _workspace_delete(self, payload, **_):
        path = _workspace_path(payload.get("path"))
        if path in WORKSPACE_ROOTS:
            raise invalid(f"Cannot delete {path}.")
        experiment = self._active_experiment_named(path)
        if experiment is not None:
            experiment.update(lifecycle_stage="deleted", last_update_time=_now_ms())
            return {}
        if path in self.state["files"]:
            del self.state["files"][path]
            return {}
        if path not in self.state["folders"]:
            raise not_found(f"Path ({path}) doesn't exist.")
        inside = path + "/"
        folders = [p for p in self.state["folders"] if p.startswith(inside)]
        files = [p for p in self.state["files"] if p.startswith(inside)]
        experiments = [
            e
            for e in self.state["experiments"].values()
            if e["lifecycle_stage"] == "active" and e["name"].startswith(inside)
        ]
        if (folders or files or experiments) and not payload.get("recursive"):
            raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({path}) is not empty.")
        for folder in [*folders, path]:
            del self.state["folders"][folder]
        for file in files:
            del self.state["files"][file]
        for experiment in experiments:
            experiment.update(lifecycle_stage="deleted", last_update_time=_now_ms())
        return {}

    # --- mlflow experiments ----------------------------------------------------------------------

    def _experiment(self, experiment_id) -> dict:
        experiment = self.state["experiments"].get(str(experiment_id or ""))
        if experiment is None:
            raise not_found(f"Could not find experiment with ID {experiment_id}")
        return experiment

    def _experiment_json(self, experiment: dict) -> dict:
        info = ml.Experiment(
            experiment_id=experiment["experiment_id"],
            name=experiment["name"],
            artifact_location=experiment["artifact_location"],
            lifecycle_stage=experiment["lifecycle_stage"],
            creation_time=experiment["creation_time"],
            last_update_time=experiment["last_update_time"],
            tags=[ml.ExperimentTag(key=k, value=v) for k, v in sorted(experiment["tags"].items())] or None,
        )
        return {"experiment": info.as_dict()}

    def _experiment_create(self, payload, **_):
        request = ml.Experiment.from_dict(payload)
        if not request.name or not request.name.startswith("/"):
            raise invalid(f"Got an invalid experiment name {request.name!r}: it must be an absolute workspace path.")
        name = _workspace_path(request.name)
        if name in self.state["folders"] or self._active_experiment_named(name) is not None:
            raise already_exists(f"Node named '{name.rsplit('/', 1)[-1]}' already exists")
        parent = name.rsplit("/", 1)[0] or "/"
        if parent not in self.state["folders"]:
            raise not_found(f"Parent directory {parent} does not exist.")
        experiment_id = str(self._new_id())
        self.state["experiments"][experiment_id] = {
            "experiment_id": experiment_id,
            "name": name,
            "artifact_location": request.artifact_location or f"dbfs:/databricks/mlflow-tracking/{experiment_id}",
            "lifecycle_stage": "active",
            "creation_time": _now_ms(),
            "last_update_time": _now_ms(),
            "tags": {t.key: t.value or "" for t in request.tags or [] if t.key},
        }
        return ml.CreateExperimentResponse(experiment_id=experiment_id).as_dict()

    def _experiment_get(self, query, **_):
        return self._experiment_json(self._experiment(query.get("experiment_id")))

    def _experiment_get_by_name(self, query, **_):
        name = query.get("experiment_name") or ""
        experiment = self._active_experiment_named(name)  # the stored name only, as on Databricks
        if experiment is None:
            raise not_found(f"Node {name} does not exist.")
        return self._experiment_json(experiment)

    def _experiment_delete(self, payload, **_):
        experiment = self._experiment(payload.get("experiment_id"))
        experiment.update(lifecycle_stage="deleted", last_update_time=_now_ms())
        return {}

    # --- billable usage ---------------------------------------------------------------------

    def _add_usage(self, *, day: str, dbus: float, tags: dict, sku: str, cluster_id: str, node_type: str) -> None:
        self.state["usage"].append(
            {"day": day, "dbus": dbus, "tags": tags, "sku": sku, "cluster_id": cluster_id, "node_type": node_type}
        )

    def _usage_download(self, account, query, **_):
        if account != self.account_id:
            raise not_found(f"Account {account} does not exist.")
        try:
            start = _month(query["start_month"])
            end = _month(query["end_month"])
        except (KeyError, ValueError):
            raise invalid("start_month and end_month are required, as YYYY-MM.") from None
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(USAGE_COLUMNS)
        for row in self.state["usage"]:
            day = date.fromisoformat(row["day"])
            if not start <= (day.year, day.month) <= end:
                continue
            custom = json.dumps(row["tags"], separators=(",", ":"))
            writer.writerow(
                [
                    WORKSPACE_ID,
                    f"{row['day']}T23:59:59.999Z",
                    row["cluster_id"],
                    row["cluster_id"],
                    row["node_type"],
                    "1",
                    custom,
                    row["sku"],
                    row["dbus"],
                    row["dbus"],
                    "",
                    json.dumps({**row["tags"], "ClusterId": row["cluster_id"]}, separators=(",", ":")),
                ]
            )
        return "text/csv", out.getvalue().encode(), {}


def _workspace_path(value) -> str:
    """A workspace path as stored: absolute, without ``/Workspace`` or a trailing slash."""
    path = str(value or "")
    if not path.startswith("/"):
        raise invalid(f"Path ({path}) must be absolute.")
    if path == "/Workspace" or path.startswith("/Workspace/"):
        path = path[len("/Workspace") :]
    path = re.sub(r"/+", "/", path).rstrip("/") or "/"
    if any(part in (".", "..") for part in path.split("/")):
        raise invalid(f"Path ({path}) must not contain '.' or '..'.")
    return path


def _month(value: str) -> tuple[int, int]:
    year, month = value.split("-")
    if not 1 <= int(month) <= 12:
        raise ValueError(value)
    return int(year), int(month)


def _input_frame(payload: dict):
    import pandas as pd

    if "dataframe_records" in payload:
        return pd.DataFrame.from_records(payload["dataframe_records"])
    if "dataframe_split" in payload:
        split = serving.DataframeSplitInput.from_dict(payload["dataframe_split"])
        return pd.DataFrame(data=split.data, columns=split.columns, index=split.index)
    for key in ("inputs", "instances"):
        if key in payload:
            data = payload[key]
            return pd.DataFrame(data) if isinstance(data, (list, dict)) else pd.DataFrame([data])
    raise invalid("Expected one of dataframe_records, dataframe_split, inputs or instances in the request body.")


def _jsonable(predictions):
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    return predictions


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Databricks REST API stand-in (not Databricks).")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=os.environ.get("DATABRICKS_STANDIN_TOKEN", "dapi-stand-in"))
    parser.add_argument("--denied-token", default="dapi-denied")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    parser.add_argument(
        "--state",
        default=None,
        help="JSON file keeping runs, endpoints, models, schemas, folders and experiments across restarts",
    )
    parser.add_argument("--programs", default=None, help="run job runs' programs here (default: simulate runs)")
    args = parser.parse_args(argv)
    standin = DatabricksStandIn(
        token=args.token,
        denied_token=args.denied_token,
        port=args.port,
        host=args.host,
        state_path=args.state,
        account_id=args.account_id,
        programs_dir=args.programs,
    ).start()
    print(f"Databricks stand-in on {standin.url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    standin.stop()


if __name__ == "__main__":
    main()
