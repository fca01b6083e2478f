"""SageMaker batch transform jobs for the portal's batch inference.

The model version's model package becomes a SageMaker Model (as for an
endpoint, ``endpoints.model_for``); the rows to score are an ``s3://``
prefix, or a built-in dataset the portal writes to S3 as CSV first.
Predictions land under the connection's output prefix (or ``spec.output``).
"""

from __future__ import annotations

import io

from ..base import BackendError, BatchSpec, EndpointVariant, JobState, JobStatus
from .client import aws, aws_name, aws_tags, console_link, error_code
from .endpoints import model_for
from .settings import Settings


def _input_uri(s3, output_uri: str, spec: BatchSpec, name: str) -> tuple[str, int | None]:
    """Where the rows are in S3, and how many there are if the portal put them there."""
    if spec.dataset.startswith("s3://"):
        return spec.dataset, None
    from apps.backends.jobs.batch_job import features  # the same features the local backend scores

    if spec.dataset.lower().endswith((".csv", ".parquet")):
        raise BackendError("On SageMaker, give the rows to score as an s3:// prefix.", permanent=True)
    built_in = {
        "dataset": spec.dataset,
        "dataset_options": spec.dataset_options,
        "model": {"name": ""},
        "data_root": "",
    }
    frame = features(built_in)
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    key = f"{prefix}/batch/{name}/input.csv".lstrip("/")
    body = io.StringIO()
    frame.to_csv(body, index=False, header=False)
    s3.put_object(Bucket=bucket, Key=key, Body=body.getvalue().encode())
    return f"s3://{bucket}/{key}", len(frame)


def submit_batch(sm, s3, settings: Settings, spec: BatchSpec) -> str:
    from botocore.exceptions import ClientError

    name = aws_name(spec.key, "job key")
    instance = spec.instance_type or settings.get("default_instance_type") or "ml.m5.large"
    with aws("Start the SageMaker batch transform"):
        variant = EndpointVariant(name="batch", model=spec.model, instance_type=instance)
        model = model_for(sm, settings, variant, spec.tags)
        source, _ = _input_uri(s3, settings.output_uri(), spec, name)
        output = spec.output if spec.output.startswith("s3://") else f"{settings.output_uri()}/batch/{name}/output"
        try:
            sm.create_transform_job(
                TransformJobName=name,
                ModelName=model,
                TransformInput={
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                },
                TransformOutput={"S3OutputPath": output, "AssembleWith": "Line"},
                TransformResources={"InstanceType": instance, "InstanceCount": 1},
                Tags=aws_tags(spec.tags),
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUse" and "already exist" not in str(exc):
                raise
    return name


def job_link(region: str, name: str):
    return console_link(region, "SageMaker batch transform job", f"transform-jobs/{name}")


def poll_batch(sm, region: str, external_id: str, *, log_cursor: int = 0) -> JobStatus:
    with aws("Read the SageMaker batch transform"):
        job = sm.describe_transform_job(TransformJobName=external_id)
    status = job["TransformJobStatus"]
    links = [job_link(region, external_id)]
    outputs = {
        "transform_job": external_id,
        "input": job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        "output": job["TransformOutput"]["S3OutputPath"],
    }
    if status == "Completed":
        return JobStatus(state=JobState.SUCCEEDED, progress=100, message="Completed", outputs=outputs, links=links)
    if status == "Failed":
        reason = job.get("FailureReason") or "The transform failed."
        return JobStatus(state=JobState.FAILED, message=reason, links=links)
    if status == "Stopped":
        return JobStatus(state=JobState.CANCELLED, message="Stopped", outputs=outputs, links=links)
    return JobStatus(state=JobState.RUNNING, progress=50, message=status, outputs=outputs, links=links)


def cancel_batch(sm, external_id: str) -> None:
    from botocore.exceptions import ClientError

    with aws("Stop the SageMaker batch transform"):
        try:
            sm.stop_transform_job(TransformJobName=external_id)
        except ClientError as exc:
            if error_code(exc) not in {"ValidationException", "ResourceNotFound"}:
                raise
