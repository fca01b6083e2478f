"""SageMaker training jobs for the portal's trainings.

A training run is a training job named after ``spec.key`` (a second submit
finds the first job: ``ResourceInUse`` -> describe), in script mode: the
scikit-learn image runs ``container_job.py`` (``apps/backends/jobs``), which is put with
the code it imports in S3 as ``<output_s3_uri>/code/<digest>/sourcedir.tar.gz``
(once per version of the code). The poll that sees the job complete registers
its model package (``registry.register``) and reports the version, the job's
final metrics and the console pages as ``JobStatus``'s typed fields.
"""

from __future__ import annotations

import json

from ..base import BackendError, JobState, JobStatus, TrainingSpec
from ..jobs import job_code
from ..jobs.training import OBJECTIVES
from . import registry
from .client import aws, aws_name, aws_tags, console_link, error_code
from .instances import is_gpu, validate_instance_type
from .settings import Settings

PROGRAM = job_code.CONTAINER_PROGRAM
DEFAULT_TRAINING_IMAGE = "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DEFAULT_GPU_TRAINING_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-training:2.1.0-gpu-py310"

SECONDARY_PROGRESS = {
    "Pending": 0,
    "Starting": 5,
    "LaunchingMLInstances": 10,
    "PreparingTrainingStack": 15,
    "Downloading": 20,
    "DownloadingTrainingImage": 25,
    "Training": 50,
    "Uploading": 90,
    "Completed": 100,
}


def source_bundle() -> dict[str, bytes]:
    """What a training job runs and an endpoint serves with: the program and the code it imports."""
    return job_code.bundle(PROGRAM)


def upload_source(s3, output_uri: str) -> str:
    """The S3 URI of the program's source tarball, put there the first time this version of it runs."""
    from botocore.exceptions import ClientError

    files = source_bundle()
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    key = f"{prefix}/code/{job_code.digest(files)}/sourcedir.tar.gz".lstrip("/")
    with aws("Put Atrium's training program in S3"):
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise
            s3.put_object(Bucket=bucket, Key=key, Body=job_code.tarball(files))
    return f"s3://{bucket}/{key}"


def script_mode(source_dir: str, region: str) -> dict[str, str]:
    """The hyperparameters that make the framework image run Atrium's program (as the SageMaker SDK sets them)."""
    return {"sagemaker_program": PROGRAM.name, "sagemaker_submit_directory": source_dir, "sagemaker_region": region}


def training_request(settings: Settings, spec: TrainingSpec, source_dir) -> dict:
    """CreateTrainingJob's arguments for ``spec`` (but its name and tags); a
    tuning job's trials use the same. ``source_dir`` gives the program's S3 URI
    (called once the request is known to be valid)."""
    instance = spec.instance_type or settings.get("default_instance_type") or "ml.m5.large"
    validate_instance_type(instance, use="training")
    gpu = is_gpu(instance)
    image = (settings.get("training_image_gpu") if gpu else settings.get("training_image")) or (
        DEFAULT_GPU_TRAINING_IMAGE if gpu else DEFAULT_TRAINING_IMAGE
    ).format(region=settings.region)
    hyperparameters = {
        **script_mode(source_dir(), settings.region),
        "model_name": spec.model_name,
        "dataset": spec.dataset,
        "algorithm": spec.algorithm,
        "task": spec.task,
        "hyperparameters": json.dumps(spec.hyperparameters, sort_keys=True),
        "dataset_options": json.dumps(spec.dataset_options, sort_keys=True),
        "target_column": spec.target_column or "",
    }
    if any(len(value) > 2500 for value in hyperparameters.values()):
        raise BackendError("The training parameters are too long for SageMaker (2500 characters).", permanent=True)
    return {
        "HyperParameters": {k: v for k, v in hyperparameters.items() if v},
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": f"validation:{name}", "Regex": f"{name}=([0-9.eE+-]+)"} for name in OBJECTIVES[spec.task]
            ],
        },
        "RoleArn": settings.role(),
        "OutputDataConfig": {"S3OutputPath": f"{settings.output_uri()}/training"},
        "ResourceConfig": {"InstanceType": instance, "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(settings.get("max_runtime_seconds", 86400))},
    }


def submit_training(sm, name: str, request: dict, tags: dict[str, str]) -> str:
    aws_name(name, "job key")
    from botocore.exceptions import ClientError

    with aws("Start the SageMaker training job"):
        try:
            sm.create_training_job(TrainingJobName=name, Tags=aws_tags(tags), **request)
        except ClientError as exc:
            if error_code(exc) != "ResourceInUse":
                raise
            sm.describe_training_job(TrainingJobName=name)  # the job of an earlier submit: reuse it
    return name


def final_metrics(job: dict) -> dict[str, float]:
    """What the job reported, as SageMaker kept it (its last value of each metric)."""
    return {m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList", [])}


def job_link(region: str, name: str):
    return console_link(region, "SageMaker training job", f"jobs/{name}")


def poll_training(sm, region: str, external_id: str, *, log_cursor: int = 0) -> JobStatus:
    with aws("Read the SageMaker training job"):
        job = sm.describe_training_job(TrainingJobName=external_id)
    status = job["TrainingJobStatus"]
    secondary = job.get("SecondaryStatus", "")
    transitions = job.get("SecondaryStatusTransitions", [])
    logs = [
        f"{t['StartTime']:%Y-%m-%d %H:%M:%S} {t['Status']}: {t.get('StatusMessage', '')}".rstrip(": ")
        for t in transitions[log_cursor:]
    ]
    common = {"logs": logs, "log_cursor": len(transitions), "links": [job_link(region, external_id)]}
    outputs = {"training_job": external_id, "training_job_arn": job.get("TrainingJobArn", "")}
    if status == "Completed":
        model, extras = registry.register(sm, job)
        common["links"].append(registry.group_link(region, model.name))
        return JobStatus(
            state=JobState.SUCCEEDED,
            progress=100,
            message="Completed",
            outputs={**outputs, **extras},
            model=model,
            metrics=final_metrics(job),
            **common,
        )
    if status == "Failed":
        reason = job.get("FailureReason") or "The training job failed."
        return JobStatus(state=JobState.FAILED, message=reason, outputs=outputs, **common)
    if status == "Stopped":
        return JobStatus(state=JobState.CANCELLED, message="Stopped", outputs=outputs, **common)
    state = JobState.PENDING if secondary in ("Pending", "Starting") else JobState.RUNNING
    progress = SECONDARY_PROGRESS.get(secondary, 50)
    return JobStatus(state=state, progress=progress, message=secondary or status, outputs=outputs, **common)


def cancel_training(sm, external_id: str) -> None:
    from botocore.exceptions import ClientError

    with aws("Stop the SageMaker training job"):
        try:
            sm.stop_training_job(TrainingJobName=external_id)
        except ClientError as exc:
            if error_code(exc) != "ValidationException":
                raise
            status = sm.describe_training_job(TrainingJobName=external_id)["TrainingJobStatus"]
            if status not in ("Completed", "Failed", "Stopped", "Stopping"):
                raise
