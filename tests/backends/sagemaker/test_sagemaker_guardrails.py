"""SageMaker Data Capture on the endpoints Atrium creates, against the AWS
stand-in (moto's server with our extensions) over real HTTP."""

import uuid

import boto3
import pytest

from apps.backends.base import EndpointSpec, EndpointVariant, ModelRef
from apps.backends.sagemaker.backend import SageMakerBackend
from apps.backends.sandbox.aws import AwsStandIn, create_bucket

TAGS = {"team": "alpha", "project": "churn", "model": "m", "run": "r1"}
GPU = "ml.g5.xlarge"  # what the backend serves the "gpu" target on


@pytest.fixture(scope="module")
def stand_in():
    server = AwsStandIn()
    server.start()
    create_bucket(server.url, "atrium-artifacts")
    yield server
    server.stop()


def client(stand_in, service):
    return boto3.client(
        service,
        endpoint_url=stand_in.url,
        region_name="us-east-1",
        aws_access_key_id="AKIAX",
        aws_secret_access_key="x",
    )


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
    sm = client(stand_in, "sagemaker")
    group = f"gr-{uuid.uuid4().hex[:8]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    for _ in range(2):
        sm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={
                "Containers": [{"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": "s3://b/m.tgz"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )
    return group


def settle(backend, name):
    for _ in range(10):
        status = backend.get_endpoint(name)
        if status.state == "in_service":
            return status
    raise AssertionError(f"{name} did not settle")


def deployed(backend, model):
    name = f"gr-{uuid.uuid4().hex[:8]}"
    backend.deploy_endpoint(EndpointSpec(name, [EndpointVariant("main", ModelRef(model, "1"), GPU)], tags=TAGS))
    settle(backend, name)
    return name


def test_every_endpoint_config_captures_requests_and_responses(backend, model, stand_in):
    name = deployed(backend, model)
    sm = client(stand_in, "sagemaker")
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
