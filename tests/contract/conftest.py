"""Fixtures of the backend contract suite: the stand-ins (moto's server for
AWS, the in-repo Databricks stand-in) on free ports in this process for the
whole session, and a ``target`` per backend that hides the few things that
differ between them (connection, instance types, how a trained model reaches
the registry, how to look at the cloud side, how to seed canned answers).

The test bodies in test_backend_contract.py are the same for every backend.
"""

from __future__ import annotations

import json
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

import pytest

from apps.backends.base import Backend

IRIS_ROWS = [0, 1, 149]  # setosa, setosa, virginica
EXPECTED_PREDICTIONS = [0, 0, 2]

SAGEMAKER_KEY = "AKIACONTRACTSTANDIN0"
SAGEMAKER_SECRET = f"sm-secret-{uuid.uuid4().hex}"
SAGEMAKER_DENIED_KEY = "AKIADENIEDCONTRACT00"
SAGEMAKER_DENIED_SECRET = f"sm-denied-secret-{uuid.uuid4().hex}"
DATABRICKS_TOKEN = f"dapi-contract-{uuid.uuid4().hex}"
DATABRICKS_DENIED_TOKEN = f"dapi-denied-{uuid.uuid4().hex}"
DATABRICKS_ACCOUNT = "00000000-0000-0000-0000-000000000000"


def iris_records(rows=IRIS_ROWS) -> list[dict]:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).data.iloc[rows].to_dict(orient="records")


# --- stand-ins, once per session -------------------------------------------------------


@pytest.fixture(scope="session")
def aws_stand_in():
    from apps.backends.sandbox.aws import AwsStandIn, create_bucket

    server = AwsStandIn()
    server.start()
    create_bucket(server.url, "atrium-artifacts")  # the output bucket an operator would have made
    yield server
    server.stop()


@pytest.fixture(scope="session")
def databricks_stand_in():
    from apps.backends.sandbox.databricks import DatabricksStandIn

    with DatabricksStandIn(token=DATABRICKS_TOKEN, denied_token=DATABRICKS_DENIED_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def logged_iris_model(tmp_path_factory):
    """A real LogisticRegression on iris, logged with MLflow to a file store in
    a temp folder: (model source URI, MLflow run id). The Databricks stand-in's
    jobs do not train, so Unity Catalog versions are registered from this."""
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("contract-mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("contract", artifact_location=(root / "artifacts").as_uri())
        X, y = load_iris(return_X_y=True, as_frame=True)
        model = LogisticRegression(max_iter=500).fit(X, y)
        with mlflow.start_run(experiment_id=experiment) as run, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # MLflow's hint about integer columns in the signature
            info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(2))
        source = mlflow.get_logged_model(info.model_id).artifact_location
    finally:
        mlflow.set_tracking_uri(previous)
    assert model.predict(X.iloc[IRIS_ROWS]).tolist() == EXPECTED_PREDICTIONS
    return source, run.info.run_id


# --- targets -------------------------------------------------------------------------


@dataclass
class Target:
    """One backend as the contract sees it."""

    name: ClassVar[str]
    train_instance_type: ClassVar[str | None] = None
    endpoint_instance_types: ClassVar[tuple[str, str]]
    keeps_approval_status: ClassVar[bool] = True  # Unity Catalog has none: an alias instead

    connection: str | None = None  # the connection's name for the API; None: the local backend
    denied_connection: str | None = None  # same account, credentials the cloud refuses
    secrets: list[str] = field(default_factory=list)  # every stored secret value, to look for leaks

    def run_target(self) -> dict:
        """How the API names this backend in POST /api/v1/runs/."""
        return {"connection": self.connection} if self.connection else {"backend": "local"}

    def backend(self) -> Backend:
        raise NotImplementedError

    def train_params(self, model_name: str, **hyperparameters) -> dict:
        params = {
            "dataset": "iris",
            "algorithm": "logistic_regression",
            "hyperparameters": {"max_iter": 200, **hyperparameters},
            "model_name": model_name,
        }
        if self.train_instance_type:
            params["instance_type"] = self.train_instance_type
        return params

    def registered_versions(self, model_name: str, runs) -> list[str]:
        """The registry versions the succeeded training ``runs`` produced, in order."""
        return [str(run.outputs["model_version"]) for run in runs]

    def failing_train_params(self, model_name: str) -> tuple[dict, str]:
        """Train params whose job fails in the cloud, and words of the reason the cloud gives."""
        raise NotImplementedError

    # the cloud side, to prove a redelivered submit created nothing new
    def training_jobs(self, key: str) -> list[Any]:
        raise NotImplementedError

    def endpoint_resources(self, name: str) -> list[Any]:
        raise NotImplementedError

    def endpoint_instance_type(self, name: str) -> str:
        """The hardware the cloud serves a one-variant endpoint on."""
        raise NotImplementedError

    # canned answers
    # Whether the stand-in's endpoint answers with the model the test trained. moto's SageMaker
    # runtime answers only what is seeded into it (the program-running stand-in serves the real
    # model: tests/backends/jobs/test_container_job.py), and seeded answers prove nothing.
    serves_the_trained_model: ClassVar[bool] = True

    def seed_costs(self, day: date, tags: dict[str, str]) -> None:
        """Costs the cloud reports for ``day`` (local costs are its training CPU-hours)."""

    # faults
    throttling_reason: ClassVar[str | None] = None  # why a target cannot be throttled

    def throttle(self, calls: int) -> None:
        raise NotImplementedError

    def throttle_left(self) -> int:
        raise NotImplementedError


class LocalTarget(Target):
    name = "local"
    endpoint_instance_types = ("local", "local")
    throttling_reason = "The local backend has no API that throttles: training and serving run on this machine."

    def __init__(self, *, mlflow_server: str, **kwargs):
        super().__init__(**kwargs)
        self.mlflow_server = mlflow_server

    def backend(self):
        from django.conf import settings

        from apps.backends.local.backend import LocalBackend

        # The worker's backend: same jobs folder and data root (settings), and the session's MLflow server.
        backend = LocalBackend(
            jobs_dir=settings.LOCAL_JOBS_DIR, tracking_uri=self.mlflow_server, data_root=settings.DATA_ROOT
        )
        backend.cpu_hour_rate = 3.6  # as an operator prices this machine: its costs are then never zero
        return backend

    def failing_train_params(self, model_name):
        from django.conf import settings

        (settings.DATA_ROOT / "contract-houses.csv").write_text("rooms,area\n3,70\n4,95\n")
        params = {
            "dataset": "contract-houses.csv",
            "target_column": "price",
            "task": "regression",
            "algorithm": "ridge",
            "model_name": model_name,
        }
        return params, "Column 'price' is not in contract-houses.csv"

    def training_jobs(self, key):
        from django.conf import settings

        pid = settings.LOCAL_JOBS_DIR / key / "pid"  # rewritten if a second training process started
        return [pid.read_text()] if pid.exists() else []

    def endpoint_resources(self, name):
        from django.conf import settings

        folder = settings.LOCAL_JOBS_DIR / "_endpoints" / name
        if not (folder / "pid").exists():
            return []
        return [((folder / "pid").read_text(), json.loads((folder / "state.json").read_text())["generation"])]


class SageMakerTarget(Target):
    name = "sagemaker"
    serves_the_trained_model = False
    train_instance_type = "ml.m5.large"
    endpoint_instance_types = ("ml.m5.large", "ml.m5.large")

    def __init__(self, *, stand_in, config: dict, **kwargs):
        super().__init__(**kwargs)
        self.stand_in = stand_in
        self.config = config

    def backend(self):
        from apps.backends.sagemaker.backend import SageMakerBackend

        return SageMakerBackend.from_connection(
            self.config, {"access_key_id": SAGEMAKER_KEY, "secret_access_key": SAGEMAKER_SECRET}
        )

    def _sm(self):
        import boto3

        return boto3.client(
            "sagemaker",
            endpoint_url=self.stand_in.url,
            region_name="us-east-1",
            aws_access_key_id="AKIACONTRACTREADER00",
            aws_secret_access_key="reader",
        )

    def failing_train_params(self, model_name):
        # The stand-in fails a job whose hyperparameters mention sandbox_fail; the backend passes the
        # training hyperparameters as one JSON hyperparameter, so the marker may be a model name.
        return {**self.train_params(model_name), "model_name": f"{model_name}-sandbox_fail"}, "AlgorithmError"

    def training_jobs(self, key):
        jobs = self._sm().list_training_jobs(NameContains=key)["TrainingJobSummaries"]
        return sorted(job["TrainingJobArn"] for job in jobs)

    def endpoint_resources(self, name):
        found = []
        for summary in self._sm().list_endpoints(NameContains=name)["Endpoints"]:
            endpoint = self._sm().describe_endpoint(EndpointName=summary["EndpointName"])
            found.append((endpoint["EndpointArn"], endpoint["EndpointConfigName"]))
        return found

    def endpoint_instance_type(self, name):
        config = self._sm().describe_endpoint(EndpointName=name)["EndpointConfigName"]
        (variant,) = self._sm().describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
        return variant["InstanceType"]

    def seed_costs(self, day, tags):
        from apps.backends.sandbox.aws import seed_costs

        keys = [f"team${tags['team']}", f"project${tags.get('project', 'default')}"]
        seed_costs(
            self.stand_in.url,
            [
                {
                    "ResultsByTime": [
                        {
                            "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                            "Total": {},
                            "Groups": [{"Keys": keys, "Metrics": {"UnblendedCost": {"Amount": "4.2", "Unit": "USD"}}}],
                            "Estimated": True,
                        }
                    ]
                }
            ],
        )

    def throttle(self, calls):
        self.stand_in.throttle(calls)

    def throttle_left(self):
        return self.stand_in.faults._throttle


class DatabricksTarget(Target):
    name = "databricks"
    endpoint_instance_types = ("CPU", "GPU_SMALL")
    keeps_approval_status = False

    def __init__(self, *, stand_in, config: dict, model_source: tuple[str, str], **kwargs):
        super().__init__(**kwargs)
        self.stand_in = stand_in
        self.config = config
        self.model_source = model_source

    def backend(self):
        from apps.backends.databricks.backend import DatabricksBackend

        return DatabricksBackend.from_connection(self.config, {"token": DATABRICKS_TOKEN})

    def registered_versions(self, model_name, runs):
        # The stand-in's job runs train nothing: register a Unity Catalog version per run from a real
        # MLflow model, as the training script does on Databricks.
        source, mlflow_run_id = self.model_source
        backend = self.backend()
        return [backend.register_model_version(model_name, source, run_id=mlflow_run_id).version for _ in runs]

    def failing_train_params(self, model_name):
        from apps.backends.sandbox.databricks import FAIL_MARKER

        # The stand-in fails a run whose name or task parameters contain the marker.
        return self.train_params(f"{model_name}-{FAIL_MARKER}"), "failed with message"

    def training_jobs(self, key):
        return sorted(run["run_id"] for run in self.stand_in.state["runs"].values() if key in run["run_name"])

    def endpoint_resources(self, name):
        endpoint = self.stand_in.state["endpoints"].get(name)
        return [(endpoint["id"], endpoint["config_version"])] if endpoint else []

    def endpoint_instance_type(self, name):
        (entity,) = self.stand_in.state["endpoints"][name]["config"]["served_entities"]
        return entity["workload_type"]

    def seed_costs(self, day, tags):
        self.stand_in.seed_usage([{"day": day.isoformat(), "dbus": 3.0, "tags": tags}])

    def throttle(self, calls):
        self.stand_in.throttle(calls)

    def throttle_left(self):
        return self.stand_in.throttle_remaining


@pytest.fixture
def admin(make_user):
    from apps.accounts.models import Role

    return make_user(f"admin-{uuid.uuid4().hex[:6]}", role=Role.ADMIN)


@pytest.fixture(params=["local", "sagemaker", "databricks"])
def target(request, admin, team) -> Target:
    """One backend, with its connections created by an admin for the team."""
    from apps.connections.services import connection_create

    def create(name, kind, config, secrets):
        connection_create(
            user=admin, name=name, kind=kind, config=config, secrets=secrets, teams=[team], is_sandbox=True
        )
        return name

    if request.param == "local":
        return LocalTarget(mlflow_server=request.getfixturevalue("mlflow_server"))

    if request.param == "sagemaker":
        stand_in = request.getfixturevalue("aws_stand_in")
        stand_in.throttle(0)
        config = {
            "region": "us-east-1",
            "endpoint_url": stand_in.url,
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": "s3://atrium-artifacts/contract",
        }
        return SageMakerTarget(
            stand_in=stand_in,
            config=config,
            connection=create(
                "aws-contract",
                "sagemaker",
                config,
                {"access_key_id": SAGEMAKER_KEY, "secret_access_key": SAGEMAKER_SECRET},
            ),
            denied_connection=create(
                "aws-contract-denied",
                "sagemaker",
                config,
                {"access_key_id": SAGEMAKER_DENIED_KEY, "secret_access_key": SAGEMAKER_DENIED_SECRET},
            ),
            secrets=[SAGEMAKER_SECRET, SAGEMAKER_DENIED_SECRET],
        )

    stand_in = request.getfixturevalue("databricks_stand_in")
    stand_in.throttle(0)
    config = {"host": stand_in.url, "catalog": "atrium", "schema": "contract", "account_id": DATABRICKS_ACCOUNT}
    return DatabricksTarget(
        stand_in=stand_in,
        config=config,
        model_source=request.getfixturevalue("logged_iris_model"),
        connection=create("databricks-contract", "databricks", config, {"token": DATABRICKS_TOKEN}),
        denied_connection=create(
            "databricks-contract-denied", "databricks", config, {"token": DATABRICKS_DENIED_TOKEN}
        ),
        secrets=[DATABRICKS_TOKEN, DATABRICKS_DENIED_TOKEN],
    )
