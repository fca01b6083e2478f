"""Canaries the portal runs itself on Databricks Model Serving and on a
SageMaker Inf1 endpoint (SageMaker has no deployment guardrails for Inf1),
against the stand-ins over HTTP: a real worker runs the rollout, the gateway
splits real traffic by the stage's weights and forwards it to the cloud (a
served model's own URL on Databricks; SageMaker's runtime, signed, with the
variant as ``TargetVariant``), and the stand-ins answer with the real models.
On each endpoint: v1 serves, a healthy v2 is advanced to 100% and promoted,
then a v3 that fails on purpose is rolled back on its own, the history says
why, and the cloud is left serving v2 alone.

How the models get to each backend's registry:

* Databricks: Unity Catalog versions registered from MLflow models whose
  artifacts are local files (as the contract suite does): the tiny
  scikit-learn model of the other gateway tests for v1 and v2, and for v3 a
  pyfunc whose ``predict`` raises (as in test_canary.py). The stand-in loads
  them with ``mlflow.pyfunc`` as Model Serving does, and answers a failing
  model with Model Serving's 400 BAD_REQUEST: judged against the baseline's
  4xx, since the same clients get 200 from it.
* SageMaker: model packages as Atrium's training registers them: the
  scikit-learn image in script mode, ``container_job.py``'s handlers from the
  submit directory and ``model.joblib`` in ``ModelDataUrl``; the stand-in's
  runtime (``programs_dir``, as ``make run`` starts it) runs those handlers on
  the model. A pyfunc cannot be packaged for it: the image loads
  ``model.joblib`` with joblib and has no MLflow, and a class defined in a test
  would unpickle only because the stand-in happens to run in this process. So
  v3 is a plain scikit-learn pipeline whose first step fails on purpose
  (``operator.attrgetter`` of an attribute no frame has): an artifact any
  scikit-learn container loads, failing on every request as a broken model
  does, which the container answers 500 and SageMaker as a ``ModelError``
  (424) carrying that 500, which the gateway passes on.
"""

import io
import operator
import uuid

import pytest

from apps.deployments import services
from apps.deployments.models import Endpoint, EndpointEvent
from apps.runs.models import Run, RunKind, RunStatus
from tests.conftest import wait_for_run, wait_until

from .conftest import DATABRICKS_TOKEN, RECORDS, drive, key_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BUCKET = "atrium-artifacts"
REGION = "us-east-1"
ROLLOUT = {
    "strategy": "canary",
    "percent": 25,
    "bake_seconds": 1,
    "thresholds": {"min_requests": 10, "max_p95_ratio": 100},  # judged on errors, not a loaded machine's latency
}


def tiny_frame():
    import pandas as pd

    return pd.DataFrame({"x1": [0.0, 0.1, 1.0, 1.1], "x2": [0.0, 0.2, 1.0, 0.9]})


def tiny_estimator():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(tiny_frame(), [0, 0, 1, 1])


# --- the stand-ins and the connections to them -----------------------------------------------


@pytest.fixture(scope="module")
def aws_programs(tmp_path_factory):
    """The AWS stand-in as ``make run`` starts it, endpoints answering with the packaged model (the
    session's ``aws_stand_in`` runs no programs; moto's state is the process's, so both see the same)."""
    from apps.backends.sandbox.aws import AwsStandIn, create_bucket

    server = AwsStandIn(programs_dir=tmp_path_factory.mktemp("aws-programs"))
    server.start()
    create_bucket(server.url, BUCKET)
    yield server
    server.stop()


def aws_client(url, service):
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="AKIACANARYTESTS00000",
        aws_secret_access_key="x",
    )


# --- the models ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_models(mlflow_server, tmp_path_factory):
    """The tiny model and one that fails on purpose, logged to the session's MLflow with their
    artifacts in a local folder (a file URI the stand-in loads them from): their sources."""
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature

    class FailsOnPurpose(mlflow.pyfunc.PythonModel):  # a local class: pickled by value, loads anywhere
        def predict(self, context, model_input, params=None):
            raise RuntimeError("this version fails on purpose")

    artifacts = tmp_path_factory.mktemp("canary-artifacts")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        experiment = mlflow.create_experiment(f"canaries-{uuid.uuid4().hex[:8]}", artifact_location=artifacts.as_uri())
        with mlflow.start_run(experiment_id=experiment):
            model = tiny_estimator()
            signature = infer_signature(tiny_frame(), model.predict(tiny_frame()))
            # Requirements given: MLflow would otherwise infer them in a subprocess (seconds a model).
            good = mlflow.sklearn.log_model(model, name="good", signature=signature, pip_requirements=["scikit-learn"])
            bad = mlflow.pyfunc.log_model(name="bad", python_model=FailsOnPurpose(), pip_requirements=["mlflow"])
        sources = {
            "good": mlflow.get_logged_model(good.model_id).artifact_location,
            "bad": mlflow.get_logged_model(bad.model_id).artifact_location,
        }
    finally:
        mlflow.set_tracking_uri(previous)
    return sources


def sagemaker_package(url: str, group: str, estimator) -> str:
    """A model package of ``group`` serving ``estimator`` as Atrium's training registers one: its version."""
    import joblib

    from apps.backends.jobs import job_code
    from apps.backends.sagemaker.registry import serving_environment
    from apps.backends.sagemaker.training import DEFAULT_TRAINING_IMAGE, script_mode, upload_source

    s3, sm = aws_client(url, "s3"), aws_client(url, "sagemaker")
    program = upload_source(s3, f"s3://{BUCKET}/canaries")
    saved = io.BytesIO()
    joblib.dump(estimator, saved)
    key = f"canaries/models/{uuid.uuid4().hex}/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=job_code.tarball({"model.joblib": saved.getvalue()}))
    if not sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]:
        sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [
                {
                    "Image": DEFAULT_TRAINING_IMAGE.format(region=REGION),
                    "ModelDataUrl": f"s3://{BUCKET}/{key}",
                    "Environment": serving_environment(script_mode(program, REGION)),
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    return str(sm.describe_model_package(ModelPackageName=arn)["ModelPackageVersion"])


def fails_on_purpose():
    """A fitted pipeline whose first step raises on any frame (AttributeError): plain scikit-learn objects."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    broken = FunctionTransformer(operator.attrgetter("this_version_fails_on_purpose")).fit(tiny_frame())
    return Pipeline([("broken", broken), ("model", tiny_estimator())])


# --- the rollouts ----------------------------------------------------------------------------


def serving(endpoint: Endpoint) -> dict[str, int]:
    """The variants the gateway sends traffic to (Databricks keeps a released one at 0%, scaled to zero)."""
    return {name: weight for name, weight in endpoint.weights.items() if weight}


def canaries(ds, gateway, name: str, versions: tuple[str, str, str], fails: tuple[int, str], **deployment):
    """v1 deployed; v2 a healthy canary promoted; v3 a failing one rolled back: ``fails`` is the
    status clients got from v3 and the start of the reason the history gives."""
    v1, v2, v3 = versions

    def deploy(version, **rollout):
        return services.deployment_start(user=ds, endpoint=name, model_version=version, rollout=rollout, **deployment)

    wait_for_run(deploy(v1), {RunStatus.SUCCEEDED}, timeout=60)
    endpoint = Endpoint.objects.get(name=name)
    _, key = key_for(endpoint, ds)
    path = f"/serve/{name}/invocations"
    first = [gateway.post(path, key, json=RECORDS) for _ in range(3)]
    assert [a.status_code for a in first] == [200] * 3, first[0].text
    assert first[0].json()["predictions"] == [0]

    run = deploy(v2, **ROLLOUT)
    seen = drive(run, gateway, key, path, timeout=60)
    assert run.status == RunStatus.SUCCEEDED, [(s.key, s.status_message) for s in run.steps.all()]
    candidate = services.variant_name(deployment["model_name"], v2)
    assert (200, candidate) in seen and all(code == 200 for code, _ in seen), [s for s in seen if s[0] != 200]
    assert run.steps.get(key="stage-1").status_message.startswith("Healthy: error rate 0.0%")
    endpoint.refresh_from_db()
    assert serving(endpoint) == {candidate: 100}

    run = deploy(v3, **{**ROLLOUT, "bake_seconds": 3600})
    seen = drive(run, gateway, key, path, timeout=60)
    assert run.status == RunStatus.FAILED
    failing = services.variant_name(deployment["model_name"], v3)
    status, reason = fails
    assert {code for code, variant in seen if variant == failing} == {status}, seen  # reached clients, then stopped
    event = endpoint.events.get(kind=EndpointEvent.Kind.ROLLED_BACK)
    assert event.automatic and event.message.startswith(f"Rolled back automatically: {reason}"), event.message
    endpoint.refresh_from_db()
    assert serving(endpoint) == {candidate: 100}
    releases = Run.objects.filter(kind=RunKind.DEPLOY, name__startswith=f"Release {failing}")
    release = wait_until(releases.first, 30, message="the release of the failed candidate (an effect of the rollout)")
    wait_for_run(release, {RunStatus.SUCCEEDED}, timeout=60)  # long past the gateway's route cache (0.2 s)
    after = [gateway.post(path, key, json=RECORDS) for _ in range(10)]
    assert [(a.status_code, a.headers["X-Atrium-Variant"]) for a in after] == [(200, candidate)] * 10


def test_databricks_canaries_through_the_gateway(
    celery_worker, ds, cloud_connection, databricks_stand_in, mlflow_models, make_gateway
):
    from apps.connections.services import connection_backend

    connection = cloud_connection(
        f"dbx-{uuid.uuid4().hex[:6]}",
        "databricks",
        {"host": databricks_stand_in.url, "catalog": "atrium", "schema": f"s{uuid.uuid4().hex[:8]}"},
        {"token": DATABRICKS_TOKEN},
    )
    backend = connection_backend(connection)
    model = f"canary_{uuid.uuid4().hex[:8]}"
    refs = [backend.register_model_version(model, mlflow_models[kind]) for kind in ("good", "good", "bad")]
    versions, full = tuple(ref.version for ref in refs), refs[0].name
    name = f"dbx-canary-{uuid.uuid4().hex[:6]}"
    try:
        # Model Serving answers a model that raised with 400 BAD_REQUEST (MLflow's scoring server's answer):
        # judged as refusing what the baseline answers.
        fails = (400, "4xx rate 100.0% is 100.0% above the baseline's 0.0%")
        canaries(ds, make_gateway(), name, versions, fails, model_name=full, connection=connection, target="cpu")
        served = backend.client.serving_endpoints.get(name).config
        routes = {r.served_entity_name: r.traffic_percentage for r in served.traffic_config.routes}
        kept = {e.name for e in served.served_entities if not e.scale_to_zero_enabled}
        assert {n: w for n, w in routes.items() if w} == {services.variant_name(full, versions[1]): 100}, routes
        assert kept == {services.variant_name(full, versions[1])}  # the rest costs nothing idle
    finally:
        backend.delete_endpoint(name)


def test_sagemaker_inf1_canaries_through_the_gateway(celery_worker, ds, cloud_connection, aws_programs, make_gateway):
    from apps.connections.services import connection_backend

    connection = cloud_connection(
        f"aws-{uuid.uuid4().hex[:6]}",
        "sagemaker",
        {
            "region": REGION,
            "endpoint_url": aws_programs.url,
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": f"s3://{BUCKET}/canaries",
        },
        {"access_key_id": "AKIACANARYCONNECTION", "secret_access_key": f"secret-{uuid.uuid4().hex}"},
    )
    group = f"canary-{uuid.uuid4().hex[:8]}"
    versions = tuple(
        sagemaker_package(aws_programs.url, group, estimator)
        for estimator in (tiny_estimator(), tiny_estimator(), fails_on_purpose())
    )
    name = f"inf1-canary-{uuid.uuid4().hex[:6]}"
    try:
        # The container answers 500, SageMaker a ModelError (424) carrying it: the gateway passes the model's 500 on.
        fails = (500, "error rate 100.0% is above 5.0%")
        inf1 = {"model_name": group, "connection": connection, "instance_type": "ml.inf1.xlarge"}
        canaries(ds, make_gateway(), name, versions, fails, **inf1)
        sm = aws_client(aws_programs.url, "sagemaker")
        described = sm.describe_endpoint(EndpointName=name)
        config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        variants = [(v["VariantName"], v["InstanceType"]) for v in config["ProductionVariants"]]
        assert variants == [(services.variant_name(group, versions[1]), "ml.inf1.xlarge")]
    finally:
        connection_backend(connection).delete_endpoint(name)
