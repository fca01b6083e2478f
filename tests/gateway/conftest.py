"""A real local model server (one per module: a tiny scikit-learn model logged
and registered in the session's MLflow, deployed with two variants "a" and "b")
and a real gateway (uvicorn in a thread of the test process, on a free port)."""

import threading
import time

import httpx
import pytest

from tests.conftest import beat_tick, free_port, wait_until

MODEL = "gateway-tiny"
COLUMNS = ["x1", "x2"]
RECORDS = {"dataframe_records": [{"x1": 0.0, "x2": 0.1}]}


def log_tiny_model(tracking_uri: str, name: str = MODEL) -> str:
    """A logistic regression on two columns, registered as ``name``; its version."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x1": [0.0, 0.1, 1.0, 1.1], "x2": [0.0, 0.2, 1.0, 0.9]})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("gateway-tests")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, signature=infer_signature(frame, model.predict(frame))
        )
    return str(info.registered_model_version)


@pytest.fixture(scope="module")
def served(mlflow_server, django_db_blocker):
    """The local endpoint "tiny" serving one model version as variants a and b: its name."""
    from django.conf import settings

    from apps.backends.base import EndpointSpec, EndpointVariant, ModelRef
    from apps.backends.local.backend import LocalBackend

    version = log_tiny_model(mlflow_server)
    backend = LocalBackend(jobs_dir=settings.LOCAL_JOBS_DIR, tracking_uri=mlflow_server, data_root=settings.DATA_ROOT)
    spec = EndpointSpec(
        name="tiny",
        variants=[
            EndpointVariant("a", ModelRef(MODEL, version), "local", weight=50),
            EndpointVariant("b", ModelRef(MODEL, version), "local", weight=50),
        ],
    )
    backend.deploy_endpoint(spec)
    wait_until(lambda: backend.get_endpoint("tiny").state == "in_service", 90, 0.5, "the model server")
    yield "tiny"
    backend.delete_endpoint("tiny")


@pytest.fixture
def endpoint(transactional_db, team, ds):
    """The portal's row for the served endpoint, split a: 0, b: 100."""
    from apps.deployments.models import Endpoint, EndpointState, Variant

    row = Endpoint.objects.create(
        team=team,
        backend="local",
        source="local",
        name="tiny",
        state=EndpointState.IN_SERVICE,
        weights={"a": 0, "b": 100},
        created_by=ds,
    )
    for name in ("a", "b"):
        Variant.objects.create(endpoint=row, name=name, model_name=MODEL, model_version="1")
    return row


class RunningGateway:
    def __init__(self, app, port):
        import uvicorn

        self.app = app
        self.gateway = app.state.gateway
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32))

    def start(self):
        self.thread.start()
        wait_until(lambda: self.server.started, 10, 0.05, "the gateway")
        return self

    def stop(self):
        # The client's keep-alive connections first: a server shutting down waits for open ones.
        self.client.close()
        self.server.should_exit = True
        self.thread.join(30)

    def post(self, path, key=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.post(self.url + path, headers=headers, **kwargs)


@pytest.fixture
def make_gateway(transactional_db, tmp_path):
    """Start a gateway with settings (capture under tmp_path); stopped (and flushed) after the test."""
    from apps.gateway.app import GatewayConfig, create_app

    running = []

    def make(**changes):
        changes = {"capture_root": str(tmp_path / "capture"), **changes}
        config = GatewayConfig(cache_seconds=0.2, flush_seconds=0.2, **changes)
        gateway = RunningGateway(create_app(config), free_port()).start()
        running.append(gateway)
        return gateway

    yield make
    for gateway in running:
        gateway.stop()


def key_for(endpoint, user, **changes):
    from apps.gateway.services import api_key_create

    return api_key_create(user=user, endpoint=endpoint, consumer="tests", **changes)


def settle(seconds=0.3):
    time.sleep(seconds)  # past the gateway's cache TTL (0.2 s in these tests)


# --- the cloud stand-ins, once per session (capture to S3, cloud capture) --------------

AWS_KEY, AWS_SECRET = "AKIAGATEWAYTESTS0000", "gateway-tests-secret"


@pytest.fixture(scope="session")
def aws_stand_in():
    """moto's server with Atrium's extensions (apps/backends/sandbox/aws), on a free port."""
    from apps.backends.sandbox.aws import AwsStandIn

    server = AwsStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(aws_stand_in, monkeypatch):
    """boto3's default credential chain (what the capture writer uses) pointed at the stand-in's account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return aws_stand_in


def s3_client(url):
    import boto3

    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=AWS_KEY, aws_secret_access_key=AWS_SECRET
    )


def s3_parquet_rows(url, bucket, prefix):
    """Every row of every Parquet file under ``prefix``, with the key it came from."""
    import io

    import pyarrow.parquet as pq

    s3, rows = s3_client(url), []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            rows += [{**row, "_key": item["Key"]} for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    return rows


DATABRICKS_TOKEN = "dapi-gateway-tests"


@pytest.fixture(scope="session")
def databricks_stand_in():
    """The Databricks stand-in (apps/backends/sandbox/databricks) on a free port."""
    from apps.backends.sandbox.databricks import DatabricksStandIn

    with DatabricksStandIn(token=DATABRICKS_TOKEN, endpoint_polls=1) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_model_source(tmp_path_factory):
    """The tiny model logged with MLflow to a file store: its source URI (what a Unity
    Catalog version points at; the Databricks stand-in serves it)."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("tiny-mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("tiny", artifact_location=(root / "artifacts").as_uri())
        frame = pd.DataFrame({"x1": [0.0, 0.1, 1.0, 1.1], "x2": [0.0, 0.2, 1.0, 0.9]})
        model = LogisticRegression().fit(frame, [0, 0, 1, 1])
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(frame, model.predict(frame)))
        return mlflow.get_logged_model(info.model_id).artifact_location
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture
def cloud_connection(admin_user, team):
    """make(kind, config, secrets): a connection of the team's, as an admin makes it."""
    from apps.connections.services import connection_create

    def make(name, kind, config, secrets):
        return connection_create(
            user=admin_user, name=name, kind=kind, config=config, secrets=secrets, teams=[team], is_sandbox=True
        )

    return make


@pytest.fixture
def admin_user(make_user):
    from apps.accounts.models import Role

    return make_user("gateway-admin", role=Role.ADMIN)


def drive(run, gateway, key, path, timeout=120):
    """Send traffic through the gateway while the rollout's first stage runs, until the
    rollout ends (the tests are the beat); the answers' (status, variant)."""
    from apps.runs.models import RunStatus, StepStatus

    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}:
            return seen
        if run.steps.filter(key="stage-1", status=StepStatus.RUNNING).exists():
            for _ in range(10):
                answer = gateway.post(path, key, json=RECORDS)
                seen.append((answer.status_code, answer.headers.get("X-Atrium-Variant")))
        beat_tick()
        time.sleep(0.2)
    raise AssertionError(f"the rollout did not end: {[(s.key, s.status, s.status_message) for s in run.steps.all()]}")
