# ruff: noqa: F811 - fixtures imported from the contract suite are used as arguments
"""Where SageMaker's deployment guardrails support the endpoint, the cloud runs
the rollout, rolled back on CloudWatch alarms the deployment creates; elsewhere
(Inf1, a first deployment, other backends) the portal runs it.

Against the AWS stand-in (moto's server with our extensions) over real HTTP,
with the run engine driven in this process as the worker would drive it (each
``advance`` is one task). The stand-in keeps each UpdateEndpoint's
DeploymentConfig as it received it (``LastDeploymentConfig``): the tests read
the real request back. moto never rolls back by itself; the stand-in rolls an
update back, as guardrails do, when one of its alarms is in ALARM as it ends."""

import uuid

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from apps.backends import registry as backend_registry
from apps.backends.local.backend import LocalBackend
from apps.backends.sagemaker.backend import SageMakerBackend
from apps.core.errors import Conflict
from apps.deployments import services
from apps.deployments.guardrails import rollout_path
from apps.deployments.models import Endpoint, EndpointEvent, EndpointState, Variant
from apps.deployments.plans import rollout_settings
from apps.runs import tasks
from apps.runs.models import TERMINAL, RunStatus
from tests.contract.conftest import SAGEMAKER_KEY, SAGEMAKER_SECRET, admin, aws_stand_in  # noqa: F401 - fixtures
from tests.sagemaker_upstream import package_group

pytestmark = pytest.mark.django_db

GUARDED = {
    "strategy": "canary",
    "percent": 10,
    "bake_seconds": 120,
    "thresholds": {"max_error_rate": 0.02, "max_p95_ms": 250},
}
LABEL = "SageMaker deployment guardrails (native)"


@pytest.fixture
def connection(aws_stand_in, admin, team):
    from apps.connections.services import connection_create

    aws_stand_in.throttle(0)
    return connection_create(
        user=admin,
        name=f"aws-{uuid.uuid4().hex[:6]}",
        kind="sagemaker",
        config={
            "region": "us-east-1",
            "endpoint_url": aws_stand_in.url,
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": "s3://atrium-artifacts/guardrails",
        },
        secrets={"access_key_id": SAGEMAKER_KEY, "secret_access_key": SAGEMAKER_SECRET},
        teams=[team],
        is_sandbox=True,
    )


@pytest.fixture
def model(aws_stand_in):
    """A model with three versions in SageMaker's registry, registered upstream."""
    return package_group(aws_stand_in.client("sagemaker"), versions=3, prefix="gm")


def advance(run):
    tasks.advance_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    return run


def drive(run, limit=15):
    for _ in range(limit):
        if advance(run).status in TERMINAL:
            return run
    raise AssertionError(f"run still {run.status}: {[(s.key, s.status, s.status_message) for s in run.steps.all()]}")


def deploy(ds, connection, name, model, version, rollout=None, **hardware):
    return services.deployment_start(
        user=ds,
        endpoint=name,
        model_name=model,
        model_version=version,
        connection=connection,
        rollout=rollout or {},
        **(hardware or {"target": "gpu", "instance_count": 2}),  # a canary shifts part of a fleet: 2 or more
    )


def first_deployment(ds, connection, model, **hardware):
    name = f"ep-{uuid.uuid4().hex[:8]}"
    run = deploy(ds, connection, name, model, "1", GUARDED, **hardware)
    # nothing to roll out against: the portal's one deploy, nothing guarded
    assert "guardrails" not in run.params and [s.key for s in run.steps.all()] == ["deploy"]
    assert drive(run).status == RunStatus.SUCCEEDED, run.status_message
    return Endpoint.objects.get(name=name)


def test_native_guardrails_on_a_sagemaker_gpu_endpoint(ds, connection, model, aws_stand_in, client):
    endpoint = first_deployment(ds, connection, model)
    sm, cloudwatch = aws_stand_in.client("sagemaker"), aws_stand_in.client("cloudwatch")
    assert "LastDeploymentConfig" not in sm.describe_endpoint(EndpointName=endpoint.name)  # created, not updated
    (baseline,) = endpoint.variants.all()
    assert baseline.target == "gpu"

    run = deploy(ds, connection, endpoint.name, model, "2", GUARDED)
    alarms = [f"atrium-{endpoint.name}-errors", f"atrium-{endpoint.name}-p95"]
    assert run.params["guardrails"] == {"label": LABEL, "alarms": alarms}
    (step,) = run.steps.all()  # one deploy: the candidate replaces the baseline under its name
    assert step.inputs["variants"] == [{**run.params["candidate"], "name": baseline.name, "weight": 100}]

    # the page and the API say who runs the rollout, and on which alarms it rolls back
    client.force_login(ds)
    page = client.get(f"/deployments/{endpoint.pk}/").content.decode()
    assert LABEL in page and all(alarm in page for alarm in alarms)
    assert 'data-testid="promote"' not in page  # nothing in SageMaker cuts a blue/green update short
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=ds)[1]}")
    rollout = reader.get(f"/api/v1/endpoints/{endpoint.pk}/").json()["rollout"]
    assert (rollout["run_by"], rollout["label"], rollout["alarms"]) == ("native", LABEL, alarms)
    with pytest.raises(Conflict):
        services.endpoint_command(user=ds, endpoint=Endpoint.objects.get(pk=endpoint.pk), command="promote")

    assert drive(run).status == RunStatus.SUCCEEDED, run.status_message
    request = sm.describe_endpoint(EndpointName=endpoint.name)["LastDeploymentConfig"]
    assert request["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 120,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
    }
    assert request["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": a} for a in alarms]}
    described = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]}
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint.name},
        {"Name": "VariantName", "Value": baseline.name},
    ]
    assert [(a["MetricName"], a["Threshold"], a["Dimensions"]) for a in described.values()] == [
        ("Invocation5XXErrors", 0.02, dimensions),
        ("ModelLatency", 250_000.0, dimensions),
    ]
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint.name)["EndpointConfigName"]
    )
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://atrium-artifacts/guardrails/capture"

    (serving,) = Endpoint.objects.get(pk=endpoint.pk).variants.all()
    assert (serving.name, serving.model_version) == (baseline.name, "2")
    deployed, promoted = (endpoint.events.get(run=run, kind=kind) for kind in ("deployed", "promoted"))
    assert deployed.message.startswith(f"Deploying {model} v2: {LABEL}: canary 10% of the capacity, baking 2 min")
    assert deployed.message.endswith(f"rolls back on CloudWatch alarms {', '.join(alarms)}")
    assert LABEL in promoted.message and "no alarm" in promoted.message

    # deleting the endpoint deletes its alarms
    assert drive(services.endpoint_delete(user=ds, endpoint=endpoint)).status == RunStatus.SUCCEEDED
    assert cloudwatch.describe_alarms(AlarmNamePrefix=f"atrium-{endpoint.name}-")["MetricAlarms"] == []


def test_a_guardrail_rollback_is_automatic_and_says_why(ds, connection, model, aws_stand_in):
    endpoint = first_deployment(ds, connection, model)
    run = deploy(ds, connection, endpoint.name, model, "2", GUARDED)
    assert advance(run).steps.get().status == "running"  # SageMaker is updating the endpoint
    alarm = f"atrium-{endpoint.name}-errors"
    aws_stand_in.client("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [0.3] was > 0.02"
    )

    assert drive(run).status == RunStatus.FAILED
    assert alarm in run.status_message and "[0.3] was > 0.02" in run.status_message
    endpoint.refresh_from_db()
    assert endpoint.state == EndpointState.IN_SERVICE and endpoint.rollout_run is None
    assert [v.model_version for v in endpoint.variants.all()] == ["1"]  # the old fleet serves
    event = endpoint.events.get(kind=EndpointEvent.Kind.ROLLED_BACK)
    assert event.automatic and event.actor is None
    assert event.message.startswith(f"Rolled back automatically by {LABEL}, watching CloudWatch alarms {alarm}")
    assert "[0.3] was > 0.02" in event.message


def test_inf1_and_first_deployments_take_the_portals_path(ds, connection, model):
    endpoint = first_deployment(ds, connection, model, instance_type="ml.inf1.xlarge")
    run = deploy(ds, connection, endpoint.name, model, "2", GUARDED, instance_type="ml.inf1.xlarge")
    assert "guardrails" not in run.params
    assert [s.key for s in run.steps.order_by("position")] == ["deploy", "stage-1", "promote"]
    deployed = endpoint.events.get(run=run, kind="deployed")
    assert "run by the portal: SageMaker guardrails do not support Inf1 endpoints" in deployed.message


def test_approvers_read_who_would_run_a_requested_rollout(connection, team):
    from apps.connections.sources import source_key
    from apps.deployments.selectors import rollout_runner

    endpoint = Endpoint.objects.create(
        team=team, backend="sagemaker", connection=connection, source=source_key(connection.pk), name="scoring"
    )
    Variant.objects.create(endpoint=endpoint, name="m-v1", model_name="m", model_version="1", target="gpu")

    def runner(**deployment):
        deployment = {"endpoint": "scoring", "target": "gpu", "instance_count": 2, "rollout": CANARY, **deployment}
        return rollout_runner(deployment=deployment, connection=connection)

    assert runner() == f"{LABEL.removesuffix(' (native)')}, on the CloudWatch alarms the deployment creates"
    inf1 = runner(target="", instance_type="ml.inf1.xlarge")
    assert inf1.startswith("the portal, judged on the gateway's metrics") and "Inf1" in inf1
    assert runner(endpoint="fresh").endswith("the endpoint is new, so the first version takes all traffic")
    assert runner(rollout={"strategy": "all_at_once"}) == "no rollout to run: all traffic moves at once"
    on_this_machine = rollout_runner(deployment={"endpoint": "scoring", "rollout": CANARY})
    assert on_this_machine.endswith("the endpoint is new, so the first version takes all traffic")  # not the cloud's


def variant(**hardware):
    return Variant(name="base-v1", model_name="m", model_version="1", **(hardware or {"target": "gpu"}))


GPU_CANDIDATE = {"name": "m-v2", "target": "gpu", "instance_count": 2}
CANARY = {"strategy": "canary"}


@pytest.mark.parametrize(
    "baseline, candidate, rollout, native, why",
    [
        ([variant()], GPU_CANDIDATE, CANARY, True, ""),
        ([variant()], GPU_CANDIDATE, {"strategy": "linear", "step_percent": 25, "interval_seconds": 60}, True, ""),
        ([variant()], GPU_CANDIDATE, {"strategy": "blue_green"}, True, ""),
        ([variant()], GPU_CANDIDATE, {"strategy": "all_at_once"}, False, ""),
        ([], GPU_CANDIDATE, CANARY, False, ""),  # a first deployment
        ([variant(), variant()], GPU_CANDIDATE, CANARY, False, "several versions"),
        ([variant(instance_type="ml.inf1.xlarge")], GPU_CANDIDATE, CANARY, False, "Inf1"),
        ([variant()], {"name": "m-v2", "instance_type": "ml.inf1.2xlarge", "instance_count": 2}, CANARY, False, "Inf1"),
        ([variant()], {**GPU_CANDIDATE, "instance_count": 1}, CANARY, False, "at least 2 instances"),
        ([variant()], GPU_CANDIDATE, {"strategy": "canary", "percent": 60}, False, "at most 50%"),
    ],
)
def test_who_runs_the_rollout_on_sagemaker(baseline, candidate, rollout, native, why):
    cloud = SageMakerBackend.from_connection({"region": "us-east-1"}, {})  # configuration only: no call
    settings, errors = rollout_settings(rollout)
    assert not errors
    path = rollout_path(backend=cloud, baseline=baseline, candidate=candidate, settings=settings)
    assert (path.native, path.label) == (native, "SageMaker deployment guardrails" if native else "")
    assert why in path.why if why else path.why == ""


def test_the_portal_runs_rollouts_on_backends_without_guardrails():
    assert [kind for kind in backend_registry.available_kinds() if backend_registry.guards_rollouts(kind)] == [
        "sagemaker"
    ]
    settings, _ = rollout_settings(CANARY)
    local = LocalBackend.__new__(LocalBackend)  # what it can do is its class's: no server started
    for backend in (local, None):
        assert not rollout_path(
            backend=backend, baseline=[variant()], candidate=GPU_CANDIDATE, settings=settings
        ).native
