# ruff: noqa: F811 - fixtures imported from the contract suite are used as arguments
"""Registry fixtures: the session's real MLflow server (tests/conftest.py) and
the stand-ins of the contract suite (moto's server for SageMaker, the
Databricks stand-in), shared, not restarted."""

import uuid
import warnings

import pytest

from tests.contract.conftest import (  # noqa: F401 - fixtures, shared with the contract suite
    DATABRICKS_TOKEN,
    SAGEMAKER_KEY,
    SAGEMAKER_SECRET,
    aws_stand_in,
    databricks_stand_in,
    logged_iris_model,
)


@pytest.fixture
def local_mlflow(settings, mlflow_server):
    """The local backend talks to the session's MLflow server."""
    settings.MLFLOW_TRACKING_URI = mlflow_server
    settings.MLFLOW_UI_URL = mlflow_server
    return mlflow_server


@pytest.fixture(scope="session")
def mlflow_logged(mlflow_server):
    """One real MLflow run with params, metrics, a dataset input and a logged
    sklearn model: (client, run id, model source). Versions are registered from it."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        mlflow.set_experiment("registry-tests")
        X, y = load_iris(return_X_y=True, as_frame=True)
        with mlflow.start_run() as run, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.log_params({"dataset": "iris", "C": "1.0"})
            mlflow.log_metrics({"accuracy": 0.9, "log_loss": 0.3})
            info = mlflow.sklearn.log_model(
                LogisticRegression(max_iter=300).fit(X, y), name="model", input_example=X.head(2)
            )
    finally:
        mlflow.set_tracking_uri(previous)
    client = MlflowClient(mlflow_server, registry_uri=mlflow_server)

    def register(name, tags=None):
        """A new version of ``name`` (the model is created if needed), as MLflow's own register_model does."""
        if not client.search_registered_models(f"name = '{name}'"):
            client.create_registered_model(name)
        return client.create_model_version(name, info.model_uri, run.info.run_id, tags=tags, model_id=info.model_id)

    return client, run.info.run_id, info.model_uri, register


@pytest.fixture
def model_name():
    return f"m-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def admin(make_user):
    from apps.accounts.models import Role

    return make_user(f"admin-{uuid.uuid4().hex[:6]}", role=Role.ADMIN)


@pytest.fixture
def sagemaker_connection(aws_stand_in, admin, team):
    from apps.connections.services import connection_create

    aws_stand_in.throttle(0)
    config = {
        "region": "us-east-1",
        "endpoint_url": aws_stand_in.url,
        "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
        "output_s3_uri": "s3://atrium-artifacts/registry",
    }
    return connection_create(
        user=admin,
        name=f"aws-{uuid.uuid4().hex[:6]}",
        kind="sagemaker",
        config=config,
        secrets={"access_key_id": SAGEMAKER_KEY, "secret_access_key": SAGEMAKER_SECRET},
        teams=[team],
        is_sandbox=True,
    )


@pytest.fixture
def sm(aws_stand_in):
    """A boto3 SageMaker client on the stand-in: "upstream", as another tool would write it."""
    import boto3

    return boto3.client(
        "sagemaker",
        endpoint_url=aws_stand_in.url,
        region_name="us-east-1",
        aws_access_key_id=SAGEMAKER_KEY,
        aws_secret_access_key=SAGEMAKER_SECRET,
    )


@pytest.fixture
def databricks_connection(databricks_stand_in, admin, team):
    from apps.connections.services import connection_create

    databricks_stand_in.throttle(0)
    schema = f"s{uuid.uuid4().hex[:8]}"  # a schema per test: the connection lists only its own
    return connection_create(
        user=admin,
        name=f"dbx-{uuid.uuid4().hex[:6]}",
        kind="databricks",
        config={"host": databricks_stand_in.url, "catalog": "atrium", "schema": schema},
        secrets={"token": DATABRICKS_TOKEN},
        teams=[team],
        is_sandbox=True,
    )


@pytest.fixture
def isolate_sources(settings, monkeypatch):
    """Sync only the sources a test names (other tests' connections point at stand-ins too)."""
    from apps.registry import sync

    def only(*wanted):
        monkeypatch.setattr(sync, "sources", lambda: list(wanted))

    return only
