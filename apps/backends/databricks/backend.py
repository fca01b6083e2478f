"""The Databricks backend, through databricks-sdk's ``WorkspaceClient``.

* Training: one-time runs (``jobs/runs/submit``) of a ``spark_python_task``
  running ``cluster_job.py`` with the ``TrainingSpec`` as JSON; the run's
  ``idempotency_token`` is the spec's key, so a redelivered submit returns the
  same run. Before the first run the backend uploads that program with the code
  it imports to ``<code_folder>/code-<digest>`` (``code_bundle``: a new folder
  for each version of the code, so runs never see a half-replaced one).
  Databricks reports no progress, so it is estimated from the time spent
  RUNNING; logs are the task's stdout (``runs/get-output``), whose last line
  carries the job's outputs (model version, metrics).
* Registry: Unity Catalog model versions and aliases. Unity Catalog has no
  approval status: ``set_approval_status`` raises a permanent ``BackendError``
  saying to use an alias instead.
* Endpoints: Model Serving with ``served_entities`` (``workload_type`` from the
  variant's ``instance_type``, checked against the SDK's
  ``ServingModelWorkloadType``) and ``traffic_config`` routes for canaries and
  rollbacks.
* Provisioning: a ``workspace`` is a Unity Catalog schema, a workspace folder
  and an MLflow experiment in it, tagged with the spec's tags and key (which
  is how a repeated provision recognises its own objects). The resource id
  ``workspace:<name>`` is all teardown needs.
* Costs: the account's billable usage CSV (``billable_usage.download``), the
  one usage read the SDK offers without a SQL warehouse. It reports DBUs, not
  money: with ``dbu_price`` configured amounts are DBUs x price in
  ``currency``, otherwise the amount is in DBUs (currency ``"DBU"``).

The client is built from configuration only (host and token), so tests and the
sandbox point it at the stand-in (apps/backends/sandbox/databricks.py) by URL.
The token is never logged or put in a message.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import io
import json
import math
import re
import time
from collections import defaultdict
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests
from databricks.sdk import AccountClient, WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.config import Config
from databricks.sdk.service import compute, jobs, ml, serving, workspace

from .. import job_code
from ..base import (
    BackendError,
    BatchSpec,
    CostRecord,
    EndpointSpec,
    EndpointStatus,
    JobState,
    JobStatus,
    ModelRef,
    ModelVersionDetails,
    ModelVersionInfo,
    RegisteredModelInfo,
    ResourceSpec,
    TrainingSpec,
    TuningSpec,
)
from ..job_code import TRAINING_MODULES
from .cluster_job import OUTPUTS_MARKER

IDEMPOTENCY_TOKEN_MAX = 64
TASK_KEY = "train"
PAYLOAD_KEYS = ("dataframe_records", "dataframe_split", "inputs", "instances")

_PENDING = {"PENDING", "QUEUED", "BLOCKED", "WAITING_FOR_RETRY"}
_RUNNING = {"RUNNING", "TERMINATING"}
_FINISHED = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
_CANCELLED_RESULTS = {"CANCELED", "UPSTREAM_CANCELED"}

RESOURCE_KINDS = ("workspace",)
WORKSPACE_ROOT = "/Workspace/Shared/atrium"

# What a job run executes: cluster_job.py and the modules it imports (the local backend's jobs).
CLUSTER_JOB = Path(__file__).with_name("cluster_job.py")
# What the job code imports beyond a Databricks ML runtime (scikit-learn, MLflow, pandas, psutil): pinned as here.
CLUSTER_LIBRARIES = (f"skops=={importlib.metadata.version('skops')}",)
BUNDLED_MODULES = (
    *TRAINING_MODULES,
    "apps/backends/local/__init__.py",
    "apps/backends/local/processes.py",
    "apps/backends/local/train_job.py",
    "apps/backends/local/tune_job.py",
    "apps/backends/local/batch_job.py",
)
EXPERIMENT_LEAF = "experiment"
KEY_TAG = "atrium_resource_key"  # on the schema (property) and the experiment (tag): whose object it is
RESOURCE_TAG = "atrium_resource"
RESOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def workload_types() -> list[str]:
    """The workload types Model Serving takes, as the SDK knows them."""
    return [member.value for member in serving.ServingModelWorkloadType]


def workload_size(instance_count: int) -> str:
    """Serving scales by concurrency, not instances: Small (4), Medium (16), Large (64)."""
    if instance_count <= 1:
        return "Small"
    return "Medium" if instance_count <= 4 else "Large"


def code_bundle() -> dict[str, bytes]:
    return job_code.bundle(CLUSTER_JOB, BUNDLED_MODULES)


def job_outputs(lines: list[str]) -> dict:
    """The outputs ``cluster_job.py`` printed as its last word, if it got that far."""
    for line in reversed(lines):
        if line.startswith(OUTPUTS_MARKER):
            with suppress(ValueError):
                outputs = json.loads(line.removeprefix(OUTPUTS_MARKER))
                return outputs if isinstance(outputs, dict) else {}
    return {}


def idempotency_token(key: str) -> str:
    """The spec key, or (over the API's 64 characters) a stable shortening of it."""
    if len(key) <= IDEMPOTENCY_TOKEN_MAX:
        return key
    return f"{key[:47]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


class DatabricksBackend:
    kind = "databricks"

    def __init__(
        self,
        *,
        host: str,
        token: str,
        catalog: str = "main",
        schema: str = "default",
        code_folder: str = WORKSPACE_ROOT,
        data_root: str | None = None,
        spark_version: str = "15.4.x-cpu-ml-scala2.12",
        node_type_id: str = "i3.xlarge",
        existing_cluster_id: str | None = None,
        account_id: str | None = None,
        account_host: str | None = None,
        dbu_price: float | None = None,
        currency: str = "USD",
        expected_run_seconds: float = 600.0,
        retry_timeout_seconds: int = 30,
        http_timeout_seconds: int = 30,
    ):
        if not host or not token:
            raise BackendError("A Databricks connection needs a host and a token.", permanent=True)
        self.host = host.rstrip("/")
        self._token = token
        self.catalog = catalog
        self.schema = schema
        self.code_folder = code_folder.rstrip("/")
        self.data_root = data_root or f"/Volumes/{catalog}/{schema}/atrium"
        self._entry_point: str | None = None
        self.spark_version = spark_version
        self.node_type_id = node_type_id
        self.existing_cluster_id = existing_cluster_id
        self.account_id = account_id
        self.account_host = account_host
        self.dbu_price = dbu_price
        self.currency = currency
        self.expected_run_seconds = expected_run_seconds
        self._timeouts = {"retry_timeout_seconds": retry_timeout_seconds, "http_timeout_seconds": http_timeout_seconds}
        self._client: WorkspaceClient | None = None

    @classmethod
    def from_connection(cls, config: dict, secrets: dict) -> DatabricksBackend:
        options = {
            key: config[key]
            for key in (
                "catalog",
                "schema",
                "code_folder",
                "data_root",
                "spark_version",
                "node_type_id",
                "existing_cluster_id",
                "account_id",
                "account_host",
                "currency",
            )
            if config.get(key)
        }
        for key in ("dbu_price", "expected_run_seconds"):
            if config.get(key) not in (None, ""):
                options[key] = float(config[key])
        return cls(host=config.get("host", ""), token=secrets.get("token", ""), **options)

    def __repr__(self) -> str:  # never the token
        return f"DatabricksBackend(host={self.host!r})"

    @property
    def client(self) -> WorkspaceClient:
        if self._client is None:
            with _errors("connect"):
                self._client = WorkspaceClient(config=self._config(self.host))
        return self._client

    def _config(self, host: str, **extra) -> Config:
        """SDK configuration from our settings only (PAT auth, bounded retries)."""
        return Config(
            host=host,
            token=self._token,
            auth_type="pat",
            product="atrium",
            product_version="1",
            **self._timeouts,
            **extra,
        )

    # searches and batch scoring are job runs like training: the same polling and cancel
    def poll_tuning(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        return self.poll_training(external_id, log_cursor=log_cursor)

    poll_batch = poll_tuning

    def cancel_tuning(self, external_id: str) -> None:
        self._cancel_run(external_id)

    cancel_batch = cancel_tuning

    # --- checks ----------------------------------------------------------------

    def check(self) -> list[dict]:
        results = []
        for name, call in (
            ("authentication", lambda: f"signed in as {self.client.current_user.me().user_name}"),
            (
                "unity catalog",
                lambda: _readable(self.client.registered_models.list(max_results=1), "registered models"),
            ),
            ("model serving", lambda: _readable(self.client.serving_endpoints.list(), "serving endpoints")),
        ):
            try:
                with _errors(name):
                    message = call()
                results.append({"check": name, "ok": True, "message": message})
            except BackendError as exc:
                results.append({"check": name, "ok": False, "message": exc.message})
        return results

    # --- training --------------------------------------------------------------

    def submit_training(self, spec: TrainingSpec) -> str:
        return self._submit_job("train", spec, subject=spec.model_name)

    def submit_tuning(self, spec: TuningSpec) -> str:
        """A search runs as one job run of the same program, in its "tune" mode
        (trials on the job's cluster, the best registered in Unity Catalog)."""
        return self._submit_job("tune", spec, subject=spec.model_name)

    def submit_batch(self, spec: BatchSpec) -> str:
        """Scoring runs as a job run of the same program in its "batch" mode,
        reading the model from Unity Catalog and writing below ``data_root``."""
        return self._submit_job("batch", spec, subject=spec.model.name)

    def _job_payload(self, spec, subject: str) -> dict:
        return {
            **asdict(spec),
            "registered_model": self._full_name(subject),
            "experiment": f"{self.code_folder.removeprefix('/Workspace')}/training/{spec.tags.get('team', 'default')}",
            "data_root": self.data_root,
        }

    def _entry(self) -> str:
        """The workspace path of ``cluster_job.py``, uploading the bundle the first time this version runs."""
        if self._entry_point:
            return self._entry_point
        files = code_bundle()
        folder = f"{self.code_folder}/code-{job_code.digest(files)}"
        entry = f"{folder}/{CLUSTER_JOB.name}"
        with _errors("put Atrium's job code in the workspace"):
            try:
                self.client.workspace.get_status(entry)
            except dberrors.NotFound:
                self._upload(folder, files)
        self._entry_point = entry
        return entry

    def _upload(self, folder: str, files: dict[str, bytes]) -> None:
        paths = {f"{folder}/{name}": content for name, content in files.items()}
        # the runs' experiments go in <code_folder>/training; mkdirs makes parents, once per folder is enough
        for parent in sorted({path.rsplit("/", 1)[0] for path in paths} | {f"{self.code_folder}/training"}):
            self.client.workspace.mkdirs(parent)
        for path, content in paths.items():  # in the bundle's order: the entry point last
            self.client.workspace.import_(
                path,
                content=base64.b64encode(content).decode(),
                format=workspace.ImportFormat.AUTO,
                overwrite=True,
            )

    def _submit_job(self, mode: str, spec, *, subject: str) -> str:
        key = spec.key
        payload = self._job_payload(spec, subject)
        cluster = {}
        if self.existing_cluster_id:
            cluster["existing_cluster_id"] = self.existing_cluster_id
        else:
            cluster["new_cluster"] = compute.ClusterSpec(
                spark_version=self.spark_version,
                node_type_id=spec.instance_type or self.node_type_id,
                num_workers=0,
                spark_conf={"spark.master": "local[*]", "spark.databricks.cluster.profile": "singleNode"},
                custom_tags={"ResourceClass": "SingleNode", **spec.tags},
            )
        parameters = ["--spec", json.dumps(payload, sort_keys=True), "--mode", mode]
        task = jobs.SubmitTask(
            task_key=TASK_KEY,
            spark_python_task=jobs.SparkPythonTask(python_file=self._entry(), parameters=parameters),
            libraries=[compute.Library(pypi=compute.PythonPyPiLibrary(package=p)) for p in CLUSTER_LIBRARIES],
            **cluster,
        )
        with _errors(f"submit the {mode} run"):
            waiter = self.client.jobs.submit(
                run_name=f"atrium {mode} {subject} {key}", idempotency_token=idempotency_token(key), tasks=[task]
            )
        return str(waiter.run_id)

    def poll_training(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        run_id = _run_id(external_id)
        with _errors(f"read run {run_id}"):
            run = self.client.jobs.get_run(run_id)
        run_state = run.state or jobs.RunState()
        life = run_state.life_cycle_state.value if run_state.life_cycle_state else "PENDING"
        result = run_state.result_state.value if run_state.result_state else ""
        cloud_message = run_state.state_message or ""

        output = self._output(run) if life not in _PENDING else None
        lines = (output.logs or "").splitlines() if output else []
        cursor = max(log_cursor, len(lines))
        # the outputs line is for the portal, not for people reading the log
        logs = [line for line in lines[log_cursor:] if not line.startswith(OUTPUTS_MARKER)]

        if life in _PENDING:
            return JobStatus(JobState.PENDING, 0.0, cloud_message, logs, cursor)
        if life in _RUNNING:
            return JobStatus(JobState.RUNNING, self._progress(run), cloud_message, logs, cursor)
        outputs = {"databricks_run_id": run.run_id, "run_page_url": run.run_page_url or ""}
        if life == "TERMINATED" and result in {"SUCCESS", "SUCCESS_WITH_FAILURES"}:
            outputs.update(job_outputs(lines))
            return JobStatus(JobState.SUCCEEDED, 100.0, cloud_message, logs, cursor, outputs)
        if result in _CANCELLED_RESULTS or (run_state.user_cancelled_or_timedout and result != "TIMEDOUT"):
            return JobStatus(JobState.CANCELLED, 0.0, cloud_message or "Cancelled", logs, cursor, outputs)
        reason = cloud_message or f"The Databricks run ended {life}/{result or 'no result'}."
        if output and output.error and output.error not in reason:
            reason = f"{reason} {output.error}"
        return JobStatus(JobState.FAILED, 0.0, reason, logs, cursor, outputs)

    def cancel_training(self, external_id: str) -> None:
        self._cancel_run(external_id)

    def _cancel_run(self, external_id: str) -> None:
        run_id = _run_id(external_id)
        with _errors(f"cancel run {run_id}"):
            self.client.jobs.cancel_run(run_id)

    def _output(self, run: jobs.Run) -> jobs.RunOutput | None:
        """The task's output (stdout tail, error); logs are a nicety, so a failure here never fails a poll."""
        task_run = next((t.run_id for t in run.tasks or [] if t.task_key == TASK_KEY), None)
        if task_run is None:
            return None
        try:
            return self.client.jobs.get_run_output(task_run)
        except (dberrors.DatabricksError, requests.RequestException, TimeoutError):
            return None

    def _progress(self, run: jobs.Run) -> float:
        """Databricks reports no progress: approach 95% as RUNNING time passes."""
        started = (run.start_time or 0) / 1000 + (run.setup_duration or 0) / 1000
        elapsed = max(0.0, time.time() - started) if started else 0.0
        return round(5 + 90 * (1 - math.exp(-elapsed / self.expected_run_seconds)), 1)

    # --- provisioning ------------------------------------------------------------

    def provision(self, spec: ResourceSpec) -> str:
        """A ``workspace``: the Unity Catalog schema ``<catalog>.<name>``, the
        folder ``/Workspace/Shared/atrium/<name>`` and an MLflow experiment in
        it, all carrying the spec's tags and its key (``atrium_resource_key``).
        Everything is created in the call; a repeated call finds its own objects
        (by that key) and creates nothing new. An object of that name that is
        not this spec's is a permanent error, never adopted."""
        if spec.kind not in RESOURCE_KINDS:
            raise BackendError(
                f"Databricks cannot provision {spec.kind!r} resources; supported: {', '.join(RESOURCE_KINDS)}.",
                permanent=True,
            )
        ws = _WorkspaceNames(self.catalog, _resource_name(spec.parameters.get("name")))
        tags = {**{str(k): str(v) for k, v in spec.tags.items()}, RESOURCE_TAG: spec.kind, KEY_TAG: spec.key}
        self._ensure_schema(ws, tags, spec.key)
        with _errors(f"create folder {ws.folder}"):  # mkdirs succeeds on an existing folder
            self.client.workspace.mkdirs(ws.folder)
        self._ensure_experiment(ws, tags, spec.key)
        return ws.resource_id

    def poll_provision(self, external_id: str) -> JobStatus:
        ws = _WorkspaceNames.parse(self.catalog, external_id)
        with _errors(f"read workspace {ws.name}"):
            schema = _missing_ok(lambda: self.client.schemas.get(ws.schema))
            folder = _missing_ok(lambda: self.client.workspace.get_status(ws.folder))
            experiment = self._experiment(ws)
        if folder is not None and folder.object_type != workspace.ObjectType.DIRECTORY:
            folder = None
        found = {"schema": schema is not None, "folder": folder is not None, "experiment": experiment is not None}
        if not any(found.values()):
            raise BackendError(
                f"No Databricks workspace {external_id}: none of its schema, folder or experiment exists "
                "(never provisioned, or torn down).",
                permanent=True,
            )
        if not all(found.values()):
            missing = ", ".join(what for what, ok in found.items() if not ok)
            return JobStatus(JobState.RUNNING, round(100 * sum(found.values()) / 3, 1), f"Waiting for: {missing}")
        outputs = {"schema": ws.schema, "folder": ws.folder, "experiment_id": experiment.experiment_id}
        return JobStatus(JobState.SUCCEEDED, 100.0, "Ready", outputs=outputs)

    def teardown(self, external_id: str) -> None:
        """Delete the experiment, the folder (recursively) and the schema
        (``force``: with whatever is in it). What is already gone is skipped, so
        a second teardown does nothing. A schema or experiment of that name
        that Atrium did not make is left alone (permanent error)."""
        ws = _WorkspaceNames.parse(self.catalog, external_id)
        with _errors(f"read workspace {ws.name}"):
            schema = _missing_ok(lambda: self.client.schemas.get(ws.schema))
            experiment = self._experiment(ws)
        for what, key in (
            (f"Schema {ws.schema}", (schema.properties or {}).get(KEY_TAG) if schema else "-"),
            (f"Experiment {ws.experiment}", _experiment_tags(experiment).get(KEY_TAG) if experiment else "-"),
        ):
            if not key:
                raise BackendError(f"{what} was not made by Atrium; not tearing {external_id} down.", permanent=True)
        if experiment is not None:
            with _errors(f"delete experiment {ws.experiment}"), suppress(dberrors.NotFound):
                self.client.experiments.delete_experiment(experiment.experiment_id)
        with _errors(f"delete folder {ws.folder}"), suppress(dberrors.NotFound):
            self.client.workspace.delete(ws.folder, recursive=True)
        if schema is not None:
            with _errors(f"delete schema {ws.schema}"), suppress(dberrors.NotFound):
                self.client.schemas.delete(ws.schema, force=True)

    def _ensure_schema(self, ws: _WorkspaceNames, tags: dict[str, str], key: str) -> None:
        with _errors(f"create schema {ws.schema}"):
            try:
                self.client.schemas.create(
                    name=ws.name, catalog_name=self.catalog, comment=f"Atrium workspace {ws.name}", properties=tags
                )
                return
            except (dberrors.ResourceAlreadyExists, dberrors.AlreadyExists):
                existing = self.client.schemas.get(ws.schema)
        _owned((existing.properties or {}).get(KEY_TAG), key, f"Schema {ws.schema}")

    def _ensure_experiment(self, ws: _WorkspaceNames, tags: dict[str, str], key: str) -> str:
        with _errors(f"create experiment {ws.experiment}"):
            existing = self._experiment(ws)
            if existing is None:
                try:
                    created = self.client.experiments.create_experiment(
                        ws.experiment, tags=[ml.ExperimentTag(key=k, value=v) for k, v in sorted(tags.items())]
                    )
                    return created.experiment_id
                except (dberrors.ResourceAlreadyExists, dberrors.AlreadyExists):
                    existing = self._experiment(ws)  # created concurrently (a redelivered task)
        if existing is None:
            raise BackendError(f"Experiment {ws.experiment} exists but cannot be read yet.", permanent=False)
        _owned(_experiment_tags(existing).get(KEY_TAG), key, f"Experiment {ws.experiment}")
        return existing.experiment_id

    def _experiment(self, ws: _WorkspaceNames) -> ml.Experiment | None:
        """The workspace's active experiment, or None (missing or deleted)."""
        found = _missing_ok(lambda: self.client.experiments.get_by_name(ws.experiment))
        experiment = found.experiment if found is not None else None
        if experiment is None or (experiment.lifecycle_stage or "active") == "deleted":
            return None
        return experiment

    # --- endpoints -----------------------------------------------------------------

    DEFAULT_WORKLOADS = {"cpu": "CPU", "gpu": "GPU_SMALL"}
    deploy_targets = tuple(DEFAULT_WORKLOADS)

    def instance_type_for(self, target: str) -> str:
        if target not in self.DEFAULT_WORKLOADS:
            raise BackendError(
                f"Databricks Model Serving has no {target} workload type (it offers {', '.join(workload_types())}).",
                permanent=True,
            )
        return self.DEFAULT_WORKLOADS[target]

    def deploy_endpoint(self, spec: EndpointSpec) -> str:
        if not spec.variants:
            raise BackendError("An endpoint needs at least one variant.", permanent=True)
        new_entities = [self._entity_input(v) for v in spec.variants]
        existing = self._get_detailed(spec.name, missing_ok=True)
        if existing is None:
            weights = _normalise({v.name: v.weight for v in spec.variants})
            config = serving.EndpointCoreConfigInput(
                name=spec.name, served_entities=new_entities, traffic_config=_traffic(weights)
            )
            tags = [serving.EndpointTag(key=k, value=v) for k, v in sorted(spec.tags.items())]
            # ResourceAlreadyExists: a redelivered deploy, the endpoint is ours
            with _errors(f"create endpoint {spec.name}"), suppress(dberrors.ResourceAlreadyExists):
                self.client.serving_endpoints.create(name=spec.name, config=config, tags=tags)
            return spec.name

        wanted = {(e.name, e.entity_name, e.entity_version) for e in new_entities}
        for config in (existing.pending_config, existing.config):
            if config and {(e.name, e.entity_name, e.entity_version) for e in config.served_entities or []} >= wanted:
                return spec.name  # already deployed (or deploying): a redelivered task changes nothing
        if existing.pending_config is not None:
            raise BackendError(f"Endpoint {spec.name} is still being updated; try again shortly.", permanent=False)

        current = existing.config
        new_names = {e.name for e in new_entities}
        previous = _primary(current, exclude=new_names)
        entities = list(new_entities)
        if spec.rollout in ("canary", "linear") and previous is not None:
            canary = max(1, min(99, spec.canary_percent))
            new_weights = _normalise({v.name: v.weight for v in spec.variants}, total=canary)
            weights = {**new_weights, previous.name: 100 - canary}
            entities.append(_as_input(previous))
        else:
            weights = _normalise({v.name: v.weight for v in spec.variants})
            if previous is not None:  # kept at 0% (scaled to zero) so a rollback has somewhere to go
                weights[previous.name] = 0
                entities.append(_as_input(previous, scale_to_zero=True))
        self._put_config(spec.name, entities, weights)
        return spec.name

    def get_endpoint(self, name: str) -> EndpointStatus:
        endpoint = self._get_detailed(name)
        state = endpoint.state or serving.EndpointState()
        ready = state.ready == serving.EndpointStateReady.READY
        update = state.config_update
        weights = _weights(endpoint.config)
        messages = [
            e.state.deployment_state_message
            for config in (endpoint.pending_config, endpoint.config)
            if config
            for e in config.served_entities or []
            if e.state and e.state.deployment_state_message
        ]
        message = messages[0] if messages else ""
        if update in (
            serving.EndpointStateConfigUpdate.UPDATE_FAILED,
            serving.EndpointStateConfigUpdate.UPDATE_CANCELED,
        ):
            status = "failed" if not ready else "in_service"
            message = message or f"The last configuration update ended {update.value}."
            if ready:
                message = f"Update {update.value}; still serving the previous configuration. {message}".strip()
        elif update == serving.EndpointStateConfigUpdate.IN_PROGRESS:
            status = "updating" if ready else "creating"
        else:
            status = "in_service" if ready else "failed"
        return EndpointStatus(name=name, state=status, weights=weights, message=message)

    def update_traffic(self, name: str, weights: dict[str, int]) -> None:
        endpoint = self._get_detailed(name)
        if endpoint.pending_config is not None:
            raise BackendError(f"Endpoint {name} is still being updated; try again shortly.", permanent=False)
        if endpoint.config is None:
            raise BackendError(f"Endpoint {name} is not ready yet.", permanent=False)
        entities = endpoint.config.served_entities or []
        names = {e.name for e in entities}
        unknown = set(weights) - names
        if unknown:
            raise BackendError(
                f"Unknown variant(s) {', '.join(sorted(unknown))} on endpoint {name}; "
                f"it serves {', '.join(sorted(names))}.",
                permanent=True,
            )
        if any(w < 0 for w in weights.values()) or sum(weights.values()) != 100:
            raise BackendError("Traffic weights must be non-negative and add up to 100.", permanent=True)
        if _weights(endpoint.config) == {n: weights.get(n, 0) for n in names}:
            return
        full = {n: weights.get(n, 0) for n in names}
        self._put_config(name, [_as_input(e) for e in entities], full)

    def rollback_endpoint(self, name: str) -> None:
        """Route all traffic back to the served entity that was deployed before
        the newest one, and drop the newest."""
        endpoint = self._get_detailed(name)
        if endpoint.pending_config is not None:
            raise BackendError(f"Endpoint {name} is still being updated; try again shortly.", permanent=False)
        entities = sorted(
            (endpoint.config.served_entities or []) if endpoint.config else [],
            key=lambda e: (e.creation_timestamp or 0, e.name or ""),
        )
        if len(entities) < 2:
            raise BackendError(f"Endpoint {name} has no previous model version to roll back to.", permanent=True)
        previous = entities[-2]
        self._put_config(name, [_as_input(previous)], {previous.name: 100})

    def delete_endpoint(self, name: str) -> None:
        with _errors(f"delete endpoint {name}"), suppress(dberrors.NotFound):  # already gone
            self.client.serving_endpoints.delete(name)

    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        keys = [k for k in PAYLOAD_KEYS if k in payload]
        if len(keys) != 1 or set(payload) - set(PAYLOAD_KEYS):
            raise BackendError(f"The payload needs exactly one of: {', '.join(PAYLOAD_KEYS)}.", permanent=True)
        key = keys[0]
        value = payload[key]
        if key == "dataframe_split":
            value = serving.DataframeSplitInput.from_dict(value)
        with _errors(f"invoke endpoint {name}"):
            response = self.client.serving_endpoints.query(name, **{key: value})
        return {"predictions": response.predictions, "served_model": response.served_model_name or ""}

    def _entity_input(self, variant) -> serving.ServedEntityInput:
        try:
            workload = serving.ServingModelWorkloadType(variant.instance_type)
        except ValueError:
            raise BackendError(
                f"Unknown Databricks workload type {variant.instance_type!r}. Valid: {', '.join(workload_types())}.",
                permanent=True,
            ) from None
        return serving.ServedEntityInput(
            name=variant.name,
            entity_name=self._full_name(variant.model.name),
            entity_version=str(variant.model.version),
            workload_type=workload,
            workload_size=workload_size(variant.instance_count),
            scale_to_zero_enabled=False,
        )

    def _get_detailed(self, name: str, *, missing_ok: bool = False) -> serving.ServingEndpointDetailed | None:
        with _errors(f"read endpoint {name}"):
            try:
                return self.client.serving_endpoints.get(name)
            except dberrors.NotFound:
                if missing_ok:
                    return None
                raise

    def _put_config(self, name: str, entities: list[serving.ServedEntityInput], weights: dict[str, int]) -> None:
        with _errors(f"update endpoint {name}"):
            self.client.serving_endpoints.update_config(
                name, served_entities=entities, traffic_config=_traffic(weights)
            )

    # --- registry ----------------------------------------------------------------------

    def list_model_versions(self, model_name: str) -> list[ModelVersionInfo]:
        full = self._full_name(model_name)
        with _errors(f"read model {full}"):
            model = self.client.registered_models.get(full, include_aliases=True)
            versions = list(self.client.model_versions.list(full))
        aliases: dict[int, list[str]] = defaultdict(list)
        for alias in model.aliases or []:
            aliases[alias.version_num].append(alias.alias_name)
        return [
            ModelVersionInfo(
                name=full,
                version=str(v.version),
                source_run_id=v.run_id or "",
                aliases=sorted(aliases.get(v.version, [])),
                approval_status="",
                artifact_uri=v.source or v.storage_location or "",
                created_at=v.created_at / 1000 if v.created_at else None,
                tags={"status": v.status.value} if v.status else {},
            )
            for v in sorted(versions, key=lambda v: v.version or 0, reverse=True)
        ]

    def set_alias(self, model: ModelRef, alias: str) -> None:
        full = self._full_name(model.name)
        with _errors(f"set alias {alias} on {full}"):
            self.client.registered_models.set_alias(full, alias, int(model.version))

    def set_approval_status(self, model: ModelRef, status: str) -> None:
        raise BackendError(
            "Unity Catalog model versions have no approval status. "
            "Mark the approved version with an alias (for example 'champion') instead.",
            permanent=True,
        )

    def register_model_version(self, model_name: str, source: str, *, run_id: str = "") -> ModelRef:
        """Register an MLflow model (``source`` is its URI) as a new Unity
        Catalog version, the way MLflow's UC registry does. Not part of the
        Protocol: Databricks training jobs register their own models."""
        full = self._full_name(model_name)
        catalog_name, schema_name, name = full.split(".")
        api = self.client.api_client
        with _errors(f"register a version of {full}"):
            with suppress(dberrors.ResourceAlreadyExists):
                self.client.registered_models.create(catalog_name=catalog_name, schema_name=schema_name, name=name)
            created = api.do(
                "POST",
                "/api/2.0/mlflow/unity-catalog/model-versions/create",
                body={"name": full, "source": source, "run_id": run_id},
            )
            version = created["model_version"]["version"]
            api.do(
                "POST", "/api/2.0/mlflow/unity-catalog/model-versions/finalize", body={"name": full, "version": version}
            )
        return ModelRef(name=full, version=str(version))

    def _full_name(self, name: str) -> str:
        """Unity Catalog's three-level name; bare names go to the configured catalog and schema."""
        parts = name.split(".")
        if len(parts) == 3 and all(parts):
            return name
        if len(parts) == 1 and name:
            return f"{self.catalog}.{self.schema}.{name}"
        raise BackendError(
            f"Invalid Unity Catalog model name {name!r}: use name or catalog.schema.name.", permanent=True
        )

    # --- registry mirror (apps/registry) ---------------------------------------------

    def list_registered_models(self) -> list[RegisteredModelInfo]:
        """The Unity Catalog models of the connection's catalog and schema. The
        fingerprint is the model's update time (or "" where it has none)."""
        prefix = f"{self.catalog}.{self.schema}."
        with _errors(f"list the models of {self.catalog}.{self.schema}"):
            found = list(self.client.registered_models.list(catalog_name=self.catalog, schema_name=self.schema))
        return [
            RegisteredModelInfo(
                name=m.full_name,
                description=m.comment or "",
                updated_at=(m.updated_at or m.created_at or 0) / 1000 or None,
                fingerprint=str(m.updated_at or ""),
            )
            for m in found
            if m.full_name and m.full_name.startswith(prefix)
        ]

    def model_version_details(self, model: ModelRef) -> ModelVersionDetails:
        """Tags (MLflow's Unity Catalog API), the creator, and the params of
        the MLflow run behind the version when the workspace still has it."""
        full = self._full_name(model.name)
        api = self.client.api_client
        with _errors(f"read {full} version {model.version}"):
            version = self.client.model_versions.get(full, int(model.version))
            found = api.do(
                "GET",
                "/api/2.0/mlflow/unity-catalog/model-versions/get",
                query={"name": full, "version": str(model.version)},
            ).get("model_version", {})
            params = {}
            if version.run_id:
                with suppress(dberrors.NotFound):
                    run = self.client.experiments.get_run(version.run_id).run
                    params = {p.key: p.value for p in (run.data.params if run and run.data else None) or []}
        return ModelVersionDetails(
            params=params,
            dataset=params.get("dataset", ""),
            stage=version.status.value if version.status else "",
            created_by=version.created_by or "",
            description=version.comment or "",
            tags={t["key"]: t.get("value", "") for t in found.get("tags") or []},
        )

    def delete_alias(self, model_name: str, alias: str) -> None:
        full = self._full_name(model_name)
        with _errors(f"remove alias {alias} from {full}"):
            self.client.registered_models.delete_alias(full, alias)

    def set_version_tag(self, model: ModelRef, key: str, value: str) -> None:
        full = self._full_name(model.name)
        with _errors(f"tag {full} version {model.version}"):
            self.client.api_client.do(
                "POST",
                "/api/2.0/mlflow/unity-catalog/model-versions/set-tag",
                body={"name": full, "version": str(model.version), "key": key, "value": value},
            )

    def delete_version_tag(self, model: ModelRef, key: str) -> None:
        full = self._full_name(model.name)
        with _errors(f"remove tag {key} from {full} version {model.version}"):
            self.client.api_client.do(
                "DELETE",
                "/api/2.0/mlflow/unity-catalog/model-versions/delete-tag",
                query={"name": full, "version": str(model.version), "key": key},
            )

    # --- costs ---------------------------------------------------------------------

    def get_costs(self, *, start: date, end: date, tags: dict[str, str] | None = None) -> list[CostRecord]:
        account_id = self.account_id or self.client.config.account_id
        if not account_id:
            raise BackendError(
                "Reading Databricks costs needs the account id (connection setting 'account_id').", permanent=True
            )
        with _errors("read billable usage"):
            account = AccountClient(config=self._config(self.account_host or self.host, account_id=account_id))
            response = account.billable_usage.download(f"{start:%Y-%m}", f"{end:%Y-%m}")
            text = response.contents.read().decode("utf-8") if response.contents else ""
        wanted = tags or {}
        totals: dict[tuple, float] = defaultdict(float)
        for row in csv.DictReader(io.StringIO(text)):
            day = date.fromisoformat(row["timestamp"][:10])
            if not start <= day <= end:
                continue
            row_tags = _parse_tags(row.get("clusterCustomTags", ""))
            if any(row_tags.get(k) != v for k, v in wanted.items()):
                continue
            totals[(day, row.get("sku", ""), tuple(sorted(row_tags.items())))] += float(row.get("dbus") or 0)
        price, currency = (self.dbu_price, self.currency) if self.dbu_price is not None else (1.0, "DBU")
        return [
            CostRecord(day=day, amount=round(dbus * price, 6), currency=currency, tags=dict(tag_items), service=sku)
            for (day, sku, tag_items), dbus in sorted(totals.items())
        ]


# --- helpers -------------------------------------------------------------------------


@contextmanager
def _errors(action: str):
    """SDK and HTTP failures as ``BackendError``: throttling, server errors and
    an unreachable host are transient; bad input, missing things and denied
    access are permanent."""
    try:
        yield
    except BackendError:
        raise
    except (dberrors.PermissionDenied, dberrors.Unauthenticated) as exc:
        raise BackendError(f"access denied: could not {action}: {_message(exc)}", permanent=True) from None
    except (
        dberrors.TooManyRequests,
        dberrors.TemporarilyUnavailable,
        dberrors.InternalError,
        dberrors.DeadlineExceeded,
        dberrors.Aborted,
    ) as exc:
        raise BackendError(f"Databricks is busy or unavailable ({action}): {_message(exc)}", permanent=False) from None
    except dberrors.ResourceConflict as exc:
        permanent = isinstance(exc, (dberrors.ResourceAlreadyExists, dberrors.AlreadyExists))
        raise BackendError(f"Could not {action}: {_message(exc)}", permanent=permanent) from None
    except dberrors.DatabricksError as exc:
        # 400 / 404 / 501 and anything without a retryable status
        raise BackendError(f"Could not {action}: {_message(exc)}", permanent=True) from None
    except (requests.ConnectionError, requests.Timeout, TimeoutError, ConnectionError) as exc:
        cause = exc.__cause__ if isinstance(exc, TimeoutError) and exc.__cause__ else exc
        detail = _message(cause) if isinstance(cause, dberrors.DatabricksError) else type(cause).__name__
        raise BackendError(f"Databricks did not answer in time ({action}): {detail}", permanent=False) from None
    except ValueError as exc:  # the SDK's configuration checks
        raise BackendError(f"Could not {action}: {exc}", permanent=True) from None


def _message(exc: dberrors.DatabricksError) -> str:
    code = getattr(exc, "error_code", "") or ""
    text = str(exc) or type(exc).__name__
    return f"{text} ({code})" if code and code not in text else text


def _run_id(external_id: str) -> int:
    try:
        return int(external_id)
    except (TypeError, ValueError):
        raise BackendError(f"Invalid Databricks run id {external_id!r}.", permanent=True) from None


@dataclass(frozen=True)
class _WorkspaceNames:
    """Where a provisioned workspace's objects live; all of it follows from the
    name, so the resource id is just ``workspace:<name>``."""

    catalog: str
    name: str

    @classmethod
    def parse(cls, catalog: str, external_id: str) -> _WorkspaceNames:
        kind, _, name = str(external_id or "").partition(":")
        if kind not in RESOURCE_KINDS or not RESOURCE_NAME.match(name):
            raise BackendError(
                f"Unknown Databricks resource id {external_id!r} (expected workspace:<name>).", permanent=True
            )
        return cls(catalog, name)

    @property
    def resource_id(self) -> str:
        return f"workspace:{self.name}"

    @property
    def schema(self) -> str:
        return f"{self.catalog}.{self.name}"

    @property
    def folder(self) -> str:
        return f"{WORKSPACE_ROOT}/{self.name}"

    @property
    def experiment(self) -> str:
        """The experiment's name: its workspace path, in the folder. Databricks
        names experiments without the ``/Workspace`` prefix (looking one up by
        name with the prefix finds nothing), so the name goes without it."""
        return f"{self.folder.removeprefix('/Workspace')}/{EXPERIMENT_LEAF}"


def _resource_name(value) -> str:
    """A workspace name as Unity Catalog stores it (lower case)."""
    name = str(value or "").strip().lower()
    if not RESOURCE_NAME.match(name):
        raise BackendError(
            f"Invalid workspace name {value!r}: letters, digits, '-' and '_', at most 63, "
            "starting with a letter or digit.",
            permanent=True,
        )
    return name


def _missing_ok(call):
    """The call's answer, or None when Databricks says the object does not exist."""
    try:
        return call()
    except dberrors.NotFound:
        return None


def _owned(found_key: str | None, key: str, what: str) -> None:
    """Raise unless the object carries ``key``: an object of that name is never adopted."""
    if found_key == key:
        return
    owner = f"resource {found_key}" if found_key else "nothing Atrium made"
    raise BackendError(
        f"{what} already exists and belongs to {owner}, not to this resource; choose another name.", permanent=True
    )


def _experiment_tags(experiment: ml.Experiment) -> dict[str, str]:
    return {t.key: t.value for t in experiment.tags or [] if t.key}


def _readable(items, what: str) -> str:
    next(iter(items), None)  # one page is enough to prove access
    return f"{what} readable"


def _traffic(weights: dict[str, int]) -> serving.TrafficConfig:
    return serving.TrafficConfig(
        routes=[serving.Route(served_entity_name=name, traffic_percentage=int(pct)) for name, pct in weights.items()]
    )


def _weights(config) -> dict[str, int]:
    if config is None or config.traffic_config is None:
        return {}
    return {
        (r.served_entity_name or r.served_model_name): r.traffic_percentage for r in config.traffic_config.routes or []
    }


def _normalise(weights: dict[str, int], total: int = 100) -> dict[str, int]:
    """Scale weights to add up to ``total`` (largest remainder)."""
    raw_total = sum(max(0, w) for w in weights.values())
    if raw_total <= 0:
        weights = {name: 1 for name in weights}
        raw_total = len(weights)
    exact = {name: max(0, w) * total / raw_total for name, w in weights.items()}
    result = {name: int(value) for name, value in exact.items()}
    leftover = total - sum(result.values())
    for name in sorted(exact, key=lambda n: exact[n] - result[n], reverse=True)[:leftover]:
        result[name] += 1
    return result


def _primary(config, *, exclude: set[str]) -> serving.ServedEntityOutput | None:
    """The served entity taking most traffic (newest on a tie), not among ``exclude``."""
    if config is None:
        return None
    weights = _weights(config)
    candidates = [e for e in config.served_entities or [] if e.name not in exclude]
    if not candidates:
        return None
    return max(candidates, key=lambda e: (weights.get(e.name, 0), e.creation_timestamp or 0))


def _as_input(entity: serving.ServedEntityOutput, *, scale_to_zero: bool | None = None) -> serving.ServedEntityInput:
    return serving.ServedEntityInput(
        name=entity.name,
        entity_name=entity.entity_name,
        entity_version=entity.entity_version,
        workload_type=entity.workload_type,
        workload_size=entity.workload_size,
        scale_to_zero_enabled=entity.scale_to_zero_enabled if scale_to_zero is None else scale_to_zero,
    )


def _parse_tags(value: str) -> dict[str, str]:
    """Billable usage tags: a JSON object, or (older files) its members without braces."""
    value = (value or "").strip()
    if not value:
        return {}
    try:
        parsed = json.loads(value if value.startswith("{") else "{" + value + "}")
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
