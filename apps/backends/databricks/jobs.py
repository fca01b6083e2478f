"""Training, search and batch scoring: one-time job runs of ``cluster_job.py``.

A job is a ``jobs/runs/submit`` run of one ``spark_python_task`` given the
spec as JSON and a ``--mode`` (train, tune or batch); the run's
``idempotency_token`` is the spec's key, so a redelivered submit returns the
same run. It runs on a new single-node job cluster tagged with the spec's tags
(or on the connection's existing cluster).

Databricks reports no progress, so it is estimated from the time spent
RUNNING. Logs are the task's stdout (``runs/get-output``), whose last line
carries what the program made (``job_outputs``): a finished run's status has
the registered version as ``model`` (its full Unity Catalog name, as the
registry lists it), the reported ``metrics``, and ``links`` to the job run and
the model version; ``outputs`` keeps the rest (run ids, paths).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from contextlib import suppress
from dataclasses import asdict

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.service import compute, jobs

from ..base import BackendError, JobState, JobStatus, Link, ModelRef
from ..jobs.cluster_job import OUTPUTS_MARKER
from .client import errors
from .code_upload import CLUSTER_LIBRARIES
from .registry import full_name, model_page_url

IDEMPOTENCY_TOKEN_MAX = 64
TASK_KEY = "train"

_PENDING = {"PENDING", "QUEUED", "BLOCKED", "WAITING_FOR_RETRY"}
_RUNNING = {"RUNNING", "TERMINATING"}
_CANCELLED_RESULTS = {"CANCELED", "UPSTREAM_CANCELED"}

# what the program reports that the typed fields of JobStatus carry instead
TYPED_OUTPUTS = ("registered_model", "model_name", "model_version", "metrics")
JOB_RUN_LINK = "Databricks job run"
MODEL_LINK = "Unity Catalog model version"
MLFLOW_RUN_LINK = "MLflow run"


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


def job_payload(spec, *, registered_model: str, code_folder: str, data_root: str) -> dict:
    """The spec as ``cluster_job.py`` reads it: with the model's full name, the run's experiment and data root."""
    return {
        **asdict(spec),
        "registered_model": registered_model,
        "experiment": f"{code_folder.removeprefix('/Workspace')}/training/{spec.tags.get('team', 'default')}",
        "data_root": data_root,
    }


def submit(
    client: WorkspaceClient,
    mode: str,
    spec,
    *,
    subject: str,
    payload: dict,
    entry: str,
    existing_cluster_id: str | None,
    spark_version: str,
    node_type_id: str,
) -> str:
    """Submit the run of ``entry`` (``cluster_job.py`` in the workspace) in ``mode``; its run id."""
    key = spec.key
    cluster = {}
    if existing_cluster_id:
        cluster["existing_cluster_id"] = existing_cluster_id
    else:
        cluster["new_cluster"] = compute.ClusterSpec(
            spark_version=spark_version,
            node_type_id=spec.instance_type or node_type_id,
            num_workers=0,
            spark_conf={"spark.master": "local[*]", "spark.databricks.cluster.profile": "singleNode"},
            custom_tags={"ResourceClass": "SingleNode", **spec.tags},
        )
    parameters = ["--spec", json.dumps(payload, sort_keys=True), "--mode", mode]
    task = jobs.SubmitTask(
        task_key=TASK_KEY,
        spark_python_task=jobs.SparkPythonTask(python_file=entry, parameters=parameters),
        libraries=[compute.Library(pypi=compute.PythonPyPiLibrary(package=p)) for p in CLUSTER_LIBRARIES],
        **cluster,
    )
    with errors(f"submit the {mode} run"):
        waiter = client.jobs.submit(
            run_name=f"atrium {mode} {subject} {key}", idempotency_token=idempotency_token(key), tasks=[task]
        )
    return str(waiter.run_id)


def poll(
    client: WorkspaceClient,
    external_id: str,
    *,
    log_cursor: int = 0,
    host: str,
    catalog: str,
    schema: str,
    expected_run_seconds: float,
) -> JobStatus:
    """The run's state, its new log lines and, once it has ended, what it made.
    ``host``, ``catalog`` and ``schema`` name the model and its page."""
    number = run_id(external_id)
    with errors(f"read run {number}"):
        run = client.jobs.get_run(number)
    run_state = run.state or jobs.RunState()
    life = run_state.life_cycle_state.value if run_state.life_cycle_state else "PENDING"
    result = run_state.result_state.value if run_state.result_state else ""
    cloud_message = run_state.state_message or ""

    output = run_output(client, run) if life not in _PENDING else None
    lines = (output.logs or "").splitlines() if output else []
    cursor = max(log_cursor, len(lines))
    # the outputs line is for the portal, not for people reading the log
    logs = [line for line in lines[log_cursor:] if not line.startswith(OUTPUTS_MARKER)]
    links = [Link(JOB_RUN_LINK, run.run_page_url)] if run.run_page_url else []

    if life in _PENDING:
        return JobStatus(JobState.PENDING, 0.0, cloud_message, logs, cursor, links=links)
    if life in _RUNNING:
        progress = estimated_progress(run, expected_run_seconds)
        return JobStatus(JobState.RUNNING, progress, cloud_message, logs, cursor, links=links)
    outputs = {"databricks_run_id": run.run_id, "run_page_url": run.run_page_url or ""}
    if life == "TERMINATED" and result in {"SUCCESS", "SUCCESS_WITH_FAILURES"}:
        reported = job_outputs(lines)
        model = reported_model(reported, catalog, schema)
        metrics = reported_metrics(reported.get("metrics"))
        outputs.update({k: v for k, v in reported.items() if k not in TYPED_OUTPUTS})
        if model is not None:
            links.append(Link(MODEL_LINK, model_page_url(host, model)))
        if outputs.get("mlflow_run_id") and outputs.get("experiment_id"):
            url = f"{host}/ml/experiments/{outputs['experiment_id']}/runs/{outputs['mlflow_run_id']}"
            links.append(Link(MLFLOW_RUN_LINK, url))
        return JobStatus(
            JobState.SUCCEEDED, 100.0, cloud_message, logs, cursor, outputs, model=model, metrics=metrics, links=links
        )
    if result in _CANCELLED_RESULTS or (run_state.user_cancelled_or_timedout and result != "TIMEDOUT"):
        return JobStatus(JobState.CANCELLED, 0.0, cloud_message or "Cancelled", logs, cursor, outputs, links=links)
    reason = cloud_message or f"The Databricks run ended {life}/{result or 'no result'}."
    if output and output.error and output.error not in reason:
        reason = f"{reason} {output.error}"
    return JobStatus(JobState.FAILED, 0.0, reason, logs, cursor, outputs, links=links)


def cancel(client: WorkspaceClient, external_id: str) -> None:
    number = run_id(external_id)
    with errors(f"cancel run {number}"):
        client.jobs.cancel_run(number)


def reported_model(reported: dict, catalog: str, schema: str) -> ModelRef | None:
    """The version the program registered, by its full Unity Catalog name (as ``list_registered_models`` names it)."""
    name = reported.get("model_name") or reported.get("registered_model")
    version = reported.get("model_version")
    if not name or version in (None, ""):
        return None
    try:
        name = full_name(str(name), catalog, schema)
    except BackendError:
        return None
    return ModelRef(name=name, version=str(version))


def reported_metrics(metrics) -> dict[str, float]:
    """The numbers among the reported metrics, as floats."""
    if not isinstance(metrics, dict):
        return {}
    return {str(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def run_output(client: WorkspaceClient, run: jobs.Run) -> jobs.RunOutput | None:
    """The task's output (stdout tail, error); logs are a nicety, so a failure here never fails a poll."""
    task_run = next((t.run_id for t in run.tasks or [] if t.task_key == TASK_KEY), None)
    if task_run is None:
        return None
    try:
        return client.jobs.get_run_output(task_run)
    except (dberrors.DatabricksError, requests.RequestException, TimeoutError):
        return None


def estimated_progress(run: jobs.Run, expected_run_seconds: float) -> float:
    """Databricks reports no progress: approach 95% as RUNNING time passes."""
    started = (run.start_time or 0) / 1000 + (run.setup_duration or 0) / 1000
    elapsed = max(0.0, time.time() - started) if started else 0.0
    return round(5 + 90 * (1 - math.exp(-elapsed / expected_run_seconds)), 1)


def run_id(external_id: str) -> int:
    try:
        return int(external_id)
    except (TypeError, ValueError):
        raise BackendError(f"Invalid Databricks run id {external_id!r}.", permanent=True) from None
