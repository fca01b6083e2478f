"""A window that lives on Databricks is profiled where it lives: a job run of Atrium's own
program (``cluster_job.py --mode profile``, uploaded as training's is) reads the endpoint's
inference table, profiles it chunk by chunk and writes the merged profile to the
connection's data root, which the backend downloads with the Files API. All over real
HTTP against the Databricks stand-in, which runs the uploaded program on this machine
(there is no cluster here: it reads the table through the stand-in's SQL warehouse, the
path a cluster without Spark takes) and serves the data root as its volumes."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import requests
from databricks.sdk.errors import DatabricksError

from apps.backends.base import BackendError, JobState, JobStatus, WindowProfiles, WindowSpec, require
from apps.backends.errors import BackendUnavailable
from apps.backends.jobs.profiles import DatasetProfile, profile_frame
from tests.conftest import wait_for_job
from tests.gateway import conftest as gateway
from tests.gateway.conftest import DATABRICKS_TOKEN

# the gateway tests' fixtures: the served model (an MLflow model the stand-in serves) and connections
tiny_model_source, cloud_connection, admin_user = (
    gateway.tiny_model_source,
    gateway.cloud_connection,
    gateway.admin_user,
)

CATALOG, SCHEMA = "atrium", "drift"


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    return tmp_path_factory.mktemp("volumes")


@pytest.fixture(scope="module")
def standin(tmp_path_factory, volumes):
    """As ``make run`` starts it: it runs the programs of job runs, and its Files API serves the data root."""
    from apps.backends.sandbox.databricks import DatabricksStandIn

    runs = tmp_path_factory.mktemp("runs")
    with DatabricksStandIn(token=DATABRICKS_TOKEN, endpoint_polls=1, programs_dir=runs, file_roots=(volumes,)) as s:
        yield s


def backend_of(standin, volumes):
    from apps.backends.databricks.backend import DatabricksBackend
    from apps.backends.sandbox.databricks import WAREHOUSE_ID

    return DatabricksBackend(
        host=standin.url,
        token=DATABRICKS_TOKEN,
        catalog=CATALOG,
        schema=SCHEMA,
        data_root=str(volumes),
        warehouse_id=WAREHOUSE_ID,
    )


def served_endpoint(backend, source, name: str) -> None:
    """A Model Serving endpoint whose inference table logs every request."""
    from databricks.sdk.service import serving

    version = backend.register_model_version("tiny", source).version
    entity = serving.ServedEntityInput(
        name="blue", entity_name=f"{CATALOG}.{SCHEMA}.tiny", entity_version=version, workload_size="Small"
    )
    backend.client.serving_endpoints.create(
        name=name,
        config=serving.EndpointCoreConfigInput(
            name=name,
            served_entities=[entity],
            auto_capture_config=serving.AutoCaptureConfigInput(catalog_name=CATALOG, schema_name=SCHEMA),
        ),
    )
    for _ in range(40):
        if backend.client.serving_endpoints.get(name).state.ready.value == "READY":
            return
        time.sleep(0.05)
    raise AssertionError("the endpoint did not get ready")


def traffic(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(0.5, 0.2, rows), "x2": rng.exponential(0.5, rows)})


def send(standin, name: str, data: pd.DataFrame, per_request: int = 7) -> None:
    """Requests straight to Databricks (not through the gateway), in MLflow's formats."""
    headers = {"Authorization": f"Bearer {DATABRICKS_TOKEN}"}
    for index, start in enumerate(range(0, len(data), per_request)):
        part = data.iloc[start : start + per_request]
        body = (
            {"dataframe_records": part.to_dict("records")}
            if index % 2
            else {"dataframe_split": part.to_dict(orient="split", index=False)}
        )
        answer = requests.post(
            f"{standin.url}/serving-endpoints/{name}/invocations", json=body, headers=headers, timeout=30
        )
        assert answer.status_code == 200, answer.text


def assert_same_exact_profile(ours: DatasetProfile, theirs: DatasetProfile) -> None:
    assert ours.rows == theirs.rows
    assert list(ours.columns) == list(theirs.columns)
    for name, column in ours.columns.items():
        other = theirs.columns[name]
        assert column.exact and other.exact
        assert (column.count, column.missing, column.integer) == (other.count, other.missing, other.integer)
        assert np.array_equal(column.sorted_sample(), other.sorted_sample())  # every value, exactly
        assert (column.min, column.max) == (other.min, other.max)
        assert column.mean == pytest.approx(other.mean, rel=1e-12) and column.m2 == pytest.approx(other.m2, rel=1e-9)


def test_an_inference_table_window_is_profiled_by_a_job_run_and_equals_the_rows_profiled_here(
    standin,
    volumes,
    tiny_model_source,
):
    backend = backend_of(standin, volumes)
    name = f"drift-{uuid.uuid4().hex[:6]}"
    served_endpoint(backend, tiny_model_source, name)
    before = datetime.now(UTC) - timedelta(seconds=1)
    sent = traffic(700, seed=3)
    send(standin, name, sent)
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert len(standin.state["inference_tables"][f"{CATALOG}.{SCHEMA}.{name}_payload"]) == 100

    spec = WindowSpec(key=f"atr-window-{uuid.uuid4().hex[:8]}", endpoint=name, since=before, until=after)
    run_id = backend.submit_window_profile(spec)
    task = standin.state["runs"][run_id]["tasks"][0]["task"]
    assert task["spark_python_task"]["python_file"].endswith("/cluster_job.py")  # training's program and upload
    assert task["spark_python_task"]["parameters"][-2:] == ["--mode", "profile"]
    assert {"pypi": {"package": "datasketches==5.2.0"}} in task["libraries"]

    status = wait_for_job(backend.poll_window_profile, run_id)
    assert status.state is JobState.SUCCEEDED, status.message
    assert (status.outputs["rows"], status.outputs["requests"]) == (700, 100)
    profile = DatasetProfile.from_bytes(backend.read_window_profile(status))
    assert ("GET", f"/api/2.0/fs/files{status.outputs['profile_path']}") in standin.requests  # read back over HTTP

    assert_same_exact_profile(profile, profile_frame(sent))

    # a window before the traffic: the job runs and profiles no row
    empty = WindowSpec(
        key=f"atr-empty-{uuid.uuid4().hex[:8]}", endpoint=name, since=before - timedelta(hours=2), until=before
    )
    status = wait_for_job(backend.poll_window_profile, backend.submit_window_profile(empty))
    assert status.state is JobState.SUCCEEDED and status.outputs["rows"] == 0
    assert DatasetProfile.from_bytes(backend.read_window_profile(status)).rows == 0


def test_an_endpoint_with_no_inference_table_submits_nothing_and_other_backends_say_they_cannot(standin, volumes):
    from apps.backends.sagemaker.backend import SageMakerBackend

    backend = backend_of(standin, volumes)
    now = datetime.now(UTC)
    runs = len(standin.state["runs"])
    assert backend.submit_window_profile(WindowSpec(key="atr-none", endpoint="nowhere", since=now, until=now)) is None
    assert len(standin.state["runs"]) == runs
    assert isinstance(backend, WindowProfiles)
    with pytest.raises(BackendError, match="no profile where it writes them"):  # only below the data root
        backend.read_window_profile(JobStatus(JobState.SUCCEEDED, outputs={"profile_path": "/etc/hostname"}))
    with pytest.raises(DatabricksError, match="does not exist"):  # the stand-in serves its file roots only
        backend.client.files.download("/etc/hostname").contents.read()
    with pytest.raises(BackendUnavailable, match="has no profiling of traffic windows where the cloud keeps them"):
        require(SageMakerBackend.__new__(SageMakerBackend), WindowProfiles)


# --- a monitor on a Databricks endpoint ---------------------------------------------------------


@pytest.mark.django_db
def test_a_monitor_s_window_on_databricks_is_a_run_whose_job_profiles_the_table(
    standin,
    volumes,
    tiny_model_source,
    cloud_connection,
    team,
    ds,
    datasets,
    settings,
    tmp_path,
):
    from apps.backends.sandbox.databricks import WAREHOUSE_ID
    from apps.deployments.models import Endpoint, EndpointState
    from apps.monitoring import compute
    from apps.monitoring.models import DriftAlert, Monitor, MonitorStatus, ReportStatus
    from apps.monitoring.services import monitor_create
    from apps.runs import tasks
    from apps.runs.models import TERMINAL, RunStatus

    settings.GATEWAY_CAPTURE_ROOT = str(tmp_path / "capture")  # empty: the window is read nowhere else
    config = {"host": standin.url, "catalog": CATALOG, "schema": SCHEMA, "warehouse_id": WAREHOUSE_ID}
    connection = cloud_connection(
        "dbx-drift", "databricks", {**config, "data_root": str(volumes)}, {"token": DATABRICKS_TOKEN}
    )
    name = f"drift-{uuid.uuid4().hex[:6]}"
    served_endpoint(backend_of(standin, volumes), tiny_model_source, name)
    Endpoint.objects.create(
        team=team,
        backend="databricks",
        connection=connection,
        source=f"connection:{connection.pk}",
        name=name,
        state=EndpointState.IN_SERVICE,
    )
    reference = datasets("train.parquet", traffic(700, seed=1))
    monitor = monitor_create(user=ds, name="on the cluster", endpoint=name, reference=reference)
    shifted = traffic(700, seed=2).assign(x1=lambda d: d.x1 + 0.5)
    send(standin, name, shifted)

    report = compute.monitor_evaluate(monitor_id=monitor.pk, now=datetime.now(UTC) + timedelta(seconds=2))
    assert report.status == ReportStatus.PENDING and report.run is not None  # no worker waits on the cluster
    run = report.run
    deadline = time.monotonic() + 180
    while run.status not in TERMINAL and time.monotonic() < deadline:
        tasks.advance_run.apply(args=[str(run.pk)])  # as the worker and the beat would
        run.refresh_from_db()
        time.sleep(0.3)
    assert run.status == RunStatus.SUCCEEDED, [(s.status, s.status_message) for s in run.steps.all()]
    step = run.steps.get()
    assert ";current=" in step.external_id  # the step waited on the cluster's job run

    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED, report.message
    assert (report.rows_reference, report.rows_current) == (700, 700)
    drifted = {row.column: row.drifted for row in report.column_results.all()}
    assert drifted == {"x1": True, "x2": False}
    monitor = Monitor.objects.get(pk=monitor.pk)
    assert (monitor.status, monitor.last_window_end) == (MonitorStatus.DRIFT, report.window_end)
    assert DriftAlert.objects.filter(monitor=monitor, resolved_at__isnull=True).exists()  # alerts followed


@pytest.mark.django_db
def test_an_ad_hoc_report_on_two_databricks_windows_profiles_both_on_the_cluster(
    standin, volumes, tiny_model_source, cloud_connection, team, api, settings, tmp_path
):
    from apps.backends.sandbox.databricks import WAREHOUSE_ID
    from apps.deployments.models import Endpoint, EndpointState
    from apps.runs import tasks
    from apps.runs.models import TERMINAL, Run, RunStatus

    settings.GATEWAY_CAPTURE_ROOT = str(tmp_path / "capture")  # empty: the windows are read nowhere else
    config = {"host": standin.url, "catalog": CATALOG, "schema": SCHEMA, "warehouse_id": WAREHOUSE_ID}
    connection = cloud_connection(
        "dbx-adhoc", "databricks", {**config, "data_root": str(volumes)}, {"token": DATABRICKS_TOKEN}
    )
    name = f"adhoc-{uuid.uuid4().hex[:6]}"
    served_endpoint(backend_of(standin, volumes), tiny_model_source, name)
    Endpoint.objects.create(
        team=team, backend="databricks", connection=connection, source="x", name=name, state=EndpointState.IN_SERVICE
    )
    started = datetime.now(UTC) - timedelta(seconds=1)
    send(standin, name, traffic(350, seed=5))
    time.sleep(0.01)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    send(standin, name, traffic(420, seed=6).assign(x2=lambda d: d.x2 * 3))
    ended = datetime.now(UTC) + timedelta(seconds=1)

    window = {"endpoint": name, "start": started.isoformat(), "end": middle.isoformat()}
    body = {"reference": window, "current": {**window, "start": middle.isoformat(), "end": ended.isoformat()}}
    answer = api.post("/api/v1/drift-reports/", body, format="json")
    assert answer.status_code == 202, answer.content
    run = Run.objects.get(pk=answer.json()["run"])
    deadline = time.monotonic() + 180
    while run.status not in TERMINAL and time.monotonic() < deadline:
        tasks.advance_run.apply(args=[str(run.pk)])
        run.refresh_from_db()
        time.sleep(0.3)
    assert run.status == RunStatus.SUCCEEDED, [(s.status, s.status_message) for s in run.steps.all()]
    assert {"current", "reference"} <= {part.split("=")[0] for part in run.steps.get().external_id.split(";")}
    report = api.get(f"/api/v1/drift-reports/{answer.json()['id']}/").json()
    assert report["status"] == "succeeded", report["message"]
    assert (report["rows_reference"], report["rows_current"]) == (350, 420)
    assert report["columns"]["x2"]["drifted"] and not report["columns"]["x1"]["drifted"]
