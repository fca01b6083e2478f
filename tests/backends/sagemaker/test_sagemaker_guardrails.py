"""SageMaker deployment guardrails, Data Capture and the alarms a deployment
creates, against the AWS stand-in (moto's server with our extensions) over
real HTTP. The stand-in keeps each UpdateEndpoint's DeploymentConfig as it
received it (``LastDeploymentConfig``), so the tests read the real request back."""

import uuid

import pytest

from apps.backends.base import (
    EndpointSpec,
    EndpointVariant,
    GuardedRollouts,
    Guardrails,
    ModelRef,
)
from apps.backends.sagemaker import guardrails
from apps.backends.sagemaker.backend import SageMakerBackend
from apps.backends.sagemaker.settings import Settings
from apps.backends.sandbox.aws import AwsStandIn, create_bucket
from tests.sagemaker_upstream import package_group

TAGS = {"team": "alpha", "project": "churn", "model": "m", "run": "r1"}
GPU = "ml.g5.xlarge"  # what the backend serves the "gpu" target on


@pytest.fixture(scope="module")
def stand_in():
    server = AwsStandIn()
    server.start()
    create_bucket(server.url, "atrium-artifacts")
    yield server
    server.stop()


@pytest.fixture
def backend(stand_in):
    return SageMakerBackend.from_connection(
        {
            "region": "us-east-1",
            "endpoint_url": stand_in.url,
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": "s3://atrium-artifacts/runs",
            "max_attempts": 1,
            "rollback_alarms": "ops-endpoint-health",
        },
        {"access_key_id": "AKIATESTINGSTANDIN", "secret_access_key": "stand-in-secret"},
    )


@pytest.fixture
def model(stand_in):
    """A model package group with two versions, registered upstream."""
    return package_group(stand_in.client("sagemaker"), versions=2, prefix="gr")


def settle(backend, name):
    for _ in range(10):
        status = backend.get_endpoint(name)
        if status.state == "in_service":
            return status
    raise AssertionError(f"{name} did not settle")


def guarded(name, model, version, **changes):
    return EndpointSpec(
        name,
        [EndpointVariant("main", ModelRef(model, version), GPU)],
        rollout=changes.pop("rollout", "canary"),
        canary_percent=10,
        bake_seconds=120,
        guardrails=Guardrails(max_error_rate=0.02, max_p95_ms=250),
        tags=TAGS,
        **changes,
    )


def deployed(backend, model):
    name = f"gr-{uuid.uuid4().hex[:8]}"
    backend.deploy_endpoint(EndpointSpec(name, [EndpointVariant("main", ModelRef(model, "1"), GPU)], tags=TAGS))
    settle(backend, name)
    return name


def test_a_guarded_canary_carries_its_alarms_and_creates_them(backend, model, stand_in):
    assert isinstance(backend, GuardedRollouts)
    name = deployed(backend, model)
    backend.deploy_endpoint(guarded(name, model, "2"))
    assert settle(backend, name).weights == {"main": 100}

    own = [f"atrium-{name}-errors", f"atrium-{name}-p95"]
    config = stand_in.client("sagemaker").describe_endpoint(EndpointName=name)["LastDeploymentConfig"]
    policy = config["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 120,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
    }
    assert policy["MaximumExecutionTimeoutInSeconds"] >= 2 * 120
    assert config["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": a} for a in [*own, "ops-endpoint-health"]]  # and the connection's own
    }
    assert backend.guardrails_alarms(name, Guardrails(max_p95_ms=250)) == [*own, "ops-endpoint-health"]

    cloudwatch = stand_in.client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=own)["MetricAlarms"]}
    dimensions = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "main"}]
    errors, latency = alarms[own[0]], alarms[own[1]]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == (
        "AWS/SageMaker",
        "Invocation5XXErrors",
        "Average",
    )
    assert errors["Threshold"] == 0.02 and errors["ComparisonOperator"] == "GreaterThanThreshold"
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("ModelLatency", "p95")
    assert latency["Threshold"] == 250_000  # ModelLatency is in microseconds
    assert errors["Dimensions"] == latency["Dimensions"] == dimensions
    tags = cloudwatch.list_tags_for_resource(ResourceARN=errors["AlarmArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == TAGS

    backend.deploy_endpoint(guarded(name, model, "2"))  # a redelivered submit: nothing new
    assert len(cloudwatch.describe_alarms(AlarmNamePrefix=f"atrium-{name}-")["MetricAlarms"]) == 2


def test_every_endpoint_config_captures_requests_and_responses(backend, model, stand_in):
    name = deployed(backend, model)
    sm = stand_in.client("sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    )
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://atrium-artifacts/runs/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"], "CsvContentTypes": ["text/csv"]},
    }


def test_a_tripped_alarm_rolls_the_deployment_back_and_says_why(backend, model, stand_in):
    name = deployed(backend, model)
    sm = stand_in.client("sagemaker")
    before = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    backend.deploy_endpoint(guarded(name, model, "2"))
    stand_in.client("cloudwatch").set_alarm_state(  # the new fleet's errors, as CloudWatch would judge them
        AlarmName=f"atrium-{name}-errors", StateValue="ALARM", StateReason="Threshold Crossed: 0.31 > 0.02"
    )
    status = settle(backend, name)
    assert status.rolled_back and status.weights == {"main": 100}
    assert f"atrium-{name}-errors" in status.message and "0.31 > 0.02" in status.message
    assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == before  # the old fleet serves


def test_deleting_the_endpoint_deletes_its_alarms(backend, model, stand_in):
    name = deployed(backend, model)
    backend.deploy_endpoint(guarded(name, model, "2"))
    settle(backend, name)
    cloudwatch = stand_in.client("cloudwatch")
    assert len(cloudwatch.describe_alarms(AlarmNamePrefix=f"atrium-{name}-")["MetricAlarms"]) == 2
    backend.delete_endpoint(name)
    backend.delete_endpoint(name)  # idempotent, alarms and all
    assert cloudwatch.describe_alarms(AlarmNamePrefix=f"atrium-{name}-")["MetricAlarms"] == []


@pytest.mark.parametrize(
    "rollout, expected",
    [
        (
            "linear",
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 60,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
            },
        ),
        ("blue_green", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60}),
        ("all_at_once", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60}),
    ],
)
def test_the_portals_strategies_map_to_sagemaker_routing(rollout, expected):
    spec = EndpointSpec(
        "ep",
        [],
        rollout=rollout,
        linear_step_percent=20,
        bake_seconds=60,
        termination_wait_seconds=600 if rollout == "blue_green" else None,
    )
    policy = guardrails.deployment_config(Settings({}, {}), spec, [])["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == expected
    assert policy["TerminationWaitInSeconds"] == (600 if rollout == "blue_green" else 0)  # else the connection's
    assert 600 <= policy["MaximumExecutionTimeoutInSeconds"] <= 28800


@pytest.mark.parametrize(
    "changes, refused",
    [
        ({}, ""),
        ({"hardware": ["gpu", "ml.g5.xlarge"]}, ""),
        ({"hardware": ["ml.inf1.xlarge", GPU]}, "Inf1"),
        ({"hardware": ["", GPU]}, "serverless"),
        ({"rollout": "all_at_once"}, "all-at-once"),
        ({"canary_percent": 60}, "at most 50%"),
        ({"rollout": "linear", "linear_step_percent": 5}, "10-50%"),
        ({"bake_seconds": 7200}, "at most 60 minutes"),
        ({"rollout": "linear", "linear_step_percent": 10, "bake_seconds": 3600}, "8-hour limit"),
        ({"instance_count": 1}, "at least 2 instances"),
        ({"instance_count": 1, "rollout": "linear"}, "at least 2 instances"),
        ({"instance_count": 1, "rollout": "blue_green"}, ""),  # the whole fleet at once: nothing to split
    ],
)
def test_what_guardrails_refuse(backend, changes, refused):
    asked = {
        "hardware": [GPU, GPU],
        "instance_count": 2,
        "rollout": "canary",
        "canary_percent": 10,
        "linear_step_percent": 25,
        "bake_seconds": 300,
        "termination_wait_seconds": 0,
        **changes,
    }
    reason = backend.guardrails_refusal(**asked)
    assert (refused in reason) if refused else reason == ""
