"""Neo compilation for Inferentia2: an ``ml.inf2.*`` variant serves its model
version compiled by a Neo compilation job (TargetDevice ``ml_inf2``).

While the compilation runs, ``compiled`` raises ``NotReady`` and the run
engine submits the deploy again later (deploy is idempotent; the job is found
again by its name), so a compilation longer than the submit retries fails the run.
"""

from __future__ import annotations

from ..base import BackendError, EndpointVariant, NotReady
from .client import aws_tags, error_code
from .settings import Settings

TARGET_DEVICE = "ml_inf2"


def compiled(
    sm, settings: Settings, variant: EndpointVariant, package_arn: str, job: str, tags: dict[str, str]
) -> tuple[str, dict]:
    """The compiled model's name (the job's) and its container, once the compilation job ``job`` is done."""
    from botocore.exceptions import ClientError

    package = sm.describe_model_package(ModelPackageName=package_arn)
    source = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    input_config = {
        "S3Uri": source,
        "Framework": settings.get("neo_framework", "PYTORCH"),
        "DataInputConfig": settings.get("neo_data_input_config", '{"input0": [1, 20]}'),
    }
    if settings.get("neo_framework_version"):
        input_config["FrameworkVersion"] = settings.get("neo_framework_version")
    try:
        sm.create_compilation_job(
            CompilationJobName=job,
            RoleArn=settings.role(),
            InputConfig=input_config,
            OutputConfig={"S3OutputLocation": f"{settings.output_uri()}/neo/{job}", "TargetDevice": TARGET_DEVICE},
            StoppingCondition={"MaxRuntimeInSeconds": 900},
            Tags=aws_tags(tags),
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceInUse":
            raise
    described = sm.describe_compilation_job(CompilationJobName=job)
    status = described["CompilationJobStatus"]
    if status in ("FAILED", "STOPPED", "STOPPING"):
        raise BackendError(
            f"Neo compilation {job} for Inferentia2 {status.lower()}: {described.get('FailureReason', '')}",
            permanent=True,
        )
    if status != "COMPLETED":
        raise NotReady(f"Compiling {variant.model.name} v{variant.model.version} for Inferentia2 (Neo {job}).")
    container = {
        "Image": settings.get("inf2_image") or described["InferenceImage"],
        "ModelDataUrl": described["ModelArtifacts"]["S3ModelArtifacts"],
    }
    return job, container
