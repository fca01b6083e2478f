"""SageMaker batch transform jobs for the portal's batch inference.

The model version's model package becomes a SageMaker Model (as for an
endpoint); the rows to score are an ``s3://`` prefix, or a built-in dataset
the portal writes to S3 as CSV first. Predictions land under the connection's
output prefix.
"""

from __future__ import annotations

import io

from ..base import BackendError, BatchSpec, EndpointVariant, JobState, JobStatus


def _input_uri(backend, spec: BatchSpec, name: str) -> tuple[str, int | None]:
    """Where the rows are in S3, and how many there are if the portal put them there."""
    if spec.dataset.startswith("s3://"):
        return spec.dataset, None
    from apps.backends.local.batch_job import features  # the same features the local backend scores

    if spec.dataset.lower().endswith((".csv", ".parquet")):
        raise BackendError("On SageMaker, give the rows to score as an s3:// prefix.", permanent=True)
    built_in = {
        "dataset": spec.dataset,
        "dataset_options": spec.dataset_options,
        "model": {"name": ""},
        "data_root": "",
    }
    frame = features(built_in)
    bucket, _, prefix = backend._output_uri().removeprefix("s3://").partition("/")
    key = f"{prefix}/batch/{name}/input.csv".lstrip("/")
    body = io.StringIO()
    frame.to_csv(body, index=False, header=False)
    backend.client("s3").put_object(Bucket=bucket, Key=key, Body=body.getvalue().encode())
    return f"s3://{bucket}/{key}", len(frame)


def submit_batch(backend, spec: BatchSpec) -> str:
    from botocore.exceptions import ClientError

    from .backend import _error_code, aws, aws_name, aws_tags

    name = aws_name(spec.key, "job key")
    instance = spec.instance_type or backend.config.get("default_instance_type") or "ml.m5.large"
    with aws("Start the SageMaker batch transform"):
        model = backend._model_for(EndpointVariant(name="batch", model=spec.model, instance_type=instance), spec.tags)
        source, _ = _input_uri(backend, spec, name)
        output = spec.output if spec.output.startswith("s3://") else f"{backend._output_uri()}/batch/{name}/output"
        try:
            backend.sm.create_transform_job(
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
            if _error_code(exc) != "ResourceInUse" and "already exist" not in str(exc):
                raise
    return name


def poll_batch(backend, external_id: str, *, log_cursor: int = 0) -> JobStatus:
    from .backend import aws

    with aws("Read the SageMaker batch transform"):
        job = backend.sm.describe_transform_job(TransformJobName=external_id)
    status = job["TransformJobStatus"]
    outputs = {
        "transform_job": external_id,
        "input": job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        "output": job["TransformOutput"]["S3OutputPath"],
    }
    if status == "Completed":
        return JobStatus(state=JobState.SUCCEEDED, progress=100, message="Completed", outputs=outputs)
    if status == "Failed":
        return JobStatus(state=JobState.FAILED, message=job.get("FailureReason") or "The transform failed.")
    if status == "Stopped":
        return JobStatus(state=JobState.CANCELLED, message="Stopped", outputs=outputs)
    return JobStatus(state=JobState.RUNNING, progress=50, message=status, outputs=outputs)


def cancel_batch(backend, external_id: str) -> None:
    from botocore.exceptions import ClientError

    from .backend import _error_code, aws

    with aws("Stop the SageMaker batch transform"):
        try:
            backend.sm.stop_transform_job(TransformJobName=external_id)
        except ClientError as exc:
            if _error_code(exc) not in {"ValidationException", "ResourceNotFound"}:
                raise
