"""The AWS SageMaker backend: training jobs, a model registry of model package
groups, endpoints with blue/green rollouts, CloudFormation stacks for
resources, and Cost Explorer for costs.

Clients come from configuration only (``from_connection``): the region,
access keys or a role to assume, and an optional ``endpoint_url`` (the
stand-in in ``apps/backends/sandbox/aws.py`` is reached that way; there is no
sandbox branch here). Instance types and enums come from botocore's service
model; prices from ``prices.json`` (or the file a connection names).

Connection config (all optional but ``region``)::

    region, endpoint_url, role_arn, external_id, execution_role_arn,
    output_s3_uri, training_image, training_image_gpu, default_instance_type,
    neo_framework, neo_framework_version, neo_data_input_config,
    rollback_alarms (list), bake_seconds, max_attempts, price_table_path,
    cost_group_by (up to two tag keys, or "SERVICE")

Secrets: ``access_key_id``, ``secret_access_key``, ``session_token``.

How the portal's ideas map onto SageMaker:

* A training run is a training job named after ``spec.key`` (so a second
  submit finds the first job: ``ResourceInUse`` -> describe), in script mode:
  the scikit-learn image runs ``container_job.py``, which the backend uploads
  with the training code it imports as ``<output_s3_uri>/code/<digest>/
  sourcedir.tar.gz`` (once per version of the code). When it
  completes, the poll registers a model package (versioned) in the model
  package group named after the model, once (found again by its description).
* Aliases are model package tags ``atrium:alias:<alias>``; setting an alias
  moves the tag off any other version of the group.
* A deploy creates a Model per variant, an endpoint config named by a hash of
  the variants, then CreateEndpoint, or UpdateEndpoint with a blue/green
  DeploymentConfig (ALL_AT_ONCE, CANARY or LINEAR by ``EndpointSpec.rollout``,
  auto-rollback alarms from the config).
* ``ml.inf2.*`` variants serve a model compiled by a Neo compilation job
  (TargetDevice ``ml_inf2``). While the compilation runs, ``deploy_endpoint``
  raises a transient ``BackendError`` and the run engine submits again later
  (deploy is idempotent), so a compilation longer than the submit retries
  fails the run.
* ``ml.inf1.*`` has no deployment guardrails on AWS, so the portal shifts
  traffic itself: the new variant joins the endpoint at weight 0, then each
  ``get_endpoint`` poll that finds the endpoint InService applies the next
  weight step (stored in the endpoint tag ``atrium:shift``).
* ``rollback_endpoint`` undoes the portal's last change to the endpoint (a
  weights change or a config change), kept a few deep in the endpoint tags
  ``atrium:undo:<n>``; each rollback pops one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from contextlib import contextmanager
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from .. import job_code
from ..base import (
    BackendError,
    BatchSpec,
    CostRecord,
    EndpointSpec,
    EndpointStatus,
    EndpointVariant,
    JobState,
    JobStatus,
    ModelRef,
    ModelVersionDetails,
    ModelVersionInfo,
    NotReady,
    RegisteredModelInfo,
    ResourceSpec,
    TrainingSpec,
    TuningSpec,
)
from ..training import OBJECTIVES

logger = logging.getLogger(__name__)

PRICE_TABLE = Path(__file__).with_name("prices.json")
PROGRAM = Path(__file__).with_name("container_job.py")


def source_bundle() -> dict[str, bytes]:
    """What a training job runs and an endpoint serves with: the program and the training code it imports."""
    return job_code.bundle(PROGRAM, job_code.TRAINING_MODULES)


def serving_environment(hyperparameters: dict[str, str]) -> dict[str, str]:
    """The framework image serves with the handlers of the program the job trained with."""
    names = {"sagemaker_program": "SAGEMAKER_PROGRAM", "sagemaker_submit_directory": "SAGEMAKER_SUBMIT_DIRECTORY"}
    environment = {env: hyperparameters[hp] for hp, env in names.items() if hyperparameters.get(hp)}
    if environment and hyperparameters.get("sagemaker_region"):
        environment["SAGEMAKER_REGION"] = hyperparameters["sagemaker_region"]
    return environment


AWS_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ALIAS_TAG = "atrium:alias:"
UNDO_TAG = "atrium:undo"  # atrium:undo:0 is the last change, :1 the one before, ...
UNDO_DEPTH = 5
SHIFT_TAG = "atrium:shift"
TAG_VALUE_BAD = re.compile(r"[^\w\s.:/=+\-@]")

DEFAULT_TRAINING_IMAGE = "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DEFAULT_GPU_TRAINING_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-training:2.1.0-gpu-py310"
GPU_FAMILIES = ("p", "g")

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
ENDPOINT_STATES = {
    "Creating": "creating",
    "Updating": "updating",
    "SystemUpdating": "updating",
    "RollingBack": "updating",
    "InService": "in_service",
    "Deleting": "deleting",
    "Failed": "failed",
    "UpdateRollbackFailed": "failed",
    "OutOfService": "failed",
}
ROUTING = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
}
CREDENTIAL_CODES = {
    "UnrecognizedClientException",
    "UnrecognizedClient",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
}
STACK_TEMPLATES = {"workspace"}


# --- what botocore knows ---------------------------------------------------------------


@cache
def _service_model(service: str):
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def enum(shape: str, service: str = "sagemaker") -> list[str]:
    """A valid-value list from botocore's service model, never a hand-written copy."""
    return list(_service_model(service).shape_for(shape).enum)


def training_instance_types() -> list[str]:
    return enum("TrainingInstanceType")


def endpoint_instance_types() -> list[str]:
    return enum("ProductionVariantInstanceType")


def is_gpu(instance_type: str) -> bool:
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else ""
    return family.startswith(GPU_FAMILIES)


def load_prices(path: str | Path | None = None) -> dict:
    return json.loads(Path(path or PRICE_TABLE).read_text())


# --- errors ----------------------------------------------------------------------------


def _error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def map_client_error(exc, action: str) -> BackendError:
    """A botocore ClientError as a BackendError, transient or permanent."""
    code = _error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in TRANSIENT_CODES or code.startswith("Throttl") or status >= 500:
        return BackendError(f"{action}: AWS is busy ({code or status}); the portal will retry.", permanent=False)
    if code.startswith("AccessDenied") or code == "403":  # S3 answers a HEAD with the bare status
        return BackendError(
            f"{action}: access denied by AWS ({code}): {message} "
            "Check the IAM permissions of the connection's credentials or role.",
            permanent=True,
        )
    if code in CREDENTIAL_CODES:
        return BackendError(
            f"{action}: AWS rejected the connection's credentials ({code}). Check the access key, secret and role.",
            permanent=True,
        )
    if code in ("ValidationException", "ValidationError"):
        return BackendError(f"{action}: AWS rejected the request: {message}", permanent=True)
    if code.startswith("ResourceNotFound") or code in ("NoSuchEntity", "NoSuchBucket", "404"):
        return BackendError(f"{action}: not found on AWS: {message}", permanent=True)
    return BackendError(f"{action} failed ({code}): {message}", permanent=True)


@contextmanager
def aws(action: str):
    """Run AWS calls; any failure leaves as a BackendError."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    try:
        yield
    except BackendError:
        raise
    except ClientError as exc:
        raise map_client_error(exc, action) from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError) as exc:
        raise BackendError(f"{action}: AWS is unreachable ({type(exc).__name__}); the portal will retry.") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise BackendError(f"{action}: the connection has no usable AWS credentials.", permanent=True) from None
    except ParamValidationError as exc:
        raise BackendError(f"{action}: invalid request: {exc}", permanent=True) from None
    except BotoCoreError as exc:
        raise BackendError(f"{action}: {type(exc).__name__}: {exc}", permanent=True) from None


# --- names and tags -----------------------------------------------------------------------


def aws_name(value: str, what: str) -> str:
    if not AWS_NAME.match(value or ""):
        raise BackendError(
            f"Invalid {what} {value!r}: letters, digits and single hyphens, at most 63 characters.", permanent=True
        )
    return value


def group_name(model_name: str) -> str:
    """The model package group of a portal model name ('_' and '.' become '-')."""
    name = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]", "-", model_name)).strip("-")[:63].rstrip("-")
    return aws_name(name, "model name")


def aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """Cost-allocation tags (team, project, model, run) in AWS form. Empty values
    are left out: CloudFormation (unlike SageMaker) refuses a tag without a value."""
    return [
        {"Key": str(key)[:128], "Value": TAG_VALUE_BAD.sub("_", str(value))[:256]}
        for key, value in sorted(tags.items())
        if str(key) and str(value)
    ]


def _json_object(text: str) -> dict:
    """A JSON object kept in a hyperparameter, or {} (registry mirror)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _percentages(variants: list[dict]) -> dict[str, int]:
    weights = {v["VariantName"]: float(v.get("CurrentWeight", v.get("DesiredWeight", 0)) or 0) for v in variants}
    total = sum(weights.values())
    if not total:
        return dict.fromkeys(weights, 0)
    return {name: round(100 * weight / total) for name, weight in weights.items()}


class SageMakerBackend:
    kind = "sagemaker"

    def __init__(self, config: dict[str, Any], secrets: dict[str, str]):
        self.config = dict(config)
        self.region = config.get("region") or "us-east-1"
        self.endpoint_url = config.get("endpoint_url") or None
        self._secrets = dict(secrets)  # only ever handed to boto3; never logged or returned
        self._session = None
        self._clients: dict[str, Any] = {}
        self._source_uri: str | None = None

    @classmethod
    def from_connection(cls, config: dict, secrets: dict) -> SageMakerBackend:
        return cls(config or {}, secrets or {})

    def __repr__(self) -> str:  # no secrets
        return f"SageMakerBackend(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    # --- clients ------------------------------------------------------------------------

    def _boto_session(self):
        if self._session is not None:
            return self._session
        import boto3

        base = boto3.session.Session(
            aws_access_key_id=self._secrets.get("access_key_id") or None,
            aws_secret_access_key=self._secrets.get("secret_access_key") or None,
            aws_session_token=self._secrets.get("session_token") or None,
            region_name=self.region,
        )
        role_arn = self.config.get("role_arn")
        if role_arn:
            with aws("Assume the connection's IAM role"):
                sts = base.client("sts", endpoint_url=self.endpoint_url, config=self._botocore_config())
                extra = {"ExternalId": self.config["external_id"]} if self.config.get("external_id") else {}
                credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="atrium-portal", **extra)["Credentials"]
            base = boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=self.region,
            )
        self._session = base
        return base

    def _botocore_config(self):
        from botocore.config import Config

        return Config(
            retries={"mode": "standard", "total_max_attempts": int(self.config.get("max_attempts", 3))},
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra="atrium-portal",
        )

    def client(self, service: str):
        if service not in self._clients:
            region = "us-east-1" if service == "ce" else self.region  # Cost Explorer lives in us-east-1
            self._clients[service] = self._boto_session().client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=self._botocore_config()
            )
        return self._clients[service]

    @property
    def sm(self):
        return self.client("sagemaker")

    def _setting(self, name: str, what: str) -> str:
        value = self.config.get(name)
        if not value:
            raise BackendError(f"The AWS connection needs '{name}' ({what}).", permanent=True)
        return value

    def _output_uri(self) -> str:
        return self._setting("output_s3_uri", "an s3:// prefix for model artifacts").rstrip("/")

    def _role(self) -> str:
        return self._setting("execution_role_arn", "the IAM role SageMaker runs jobs and endpoints as")

    # --- checks and catalog -------------------------------------------------------------

    def check(self) -> list[dict]:
        results = []
        for name, action, call in (
            ("credentials", "Identify the caller", lambda: self.client("sts").get_caller_identity()),
            ("sagemaker", "List SageMaker training jobs", lambda: self.sm.list_training_jobs(MaxResults=1)),
            ("endpoints", "List SageMaker endpoints", lambda: self.sm.list_endpoints(MaxResults=1)),
            ("cloudformation", "List CloudFormation stacks", lambda: self.client("cloudformation").list_stacks()),
        ):
            try:
                with aws(action):
                    call()
                results.append({"check": name, "ok": True, "message": "OK"})
            except BackendError as exc:
                results.append({"check": name, "ok": False, "message": exc.message})
        return results

    def validate_instance_type(self, instance_type: str, *, use: str) -> str:
        valid = training_instance_types() if use == "training" else endpoint_instance_types()
        if instance_type not in valid:
            examples = ", ".join([t for t in valid if t.startswith(("ml.m5.", "ml.g5."))][:6])
            raise BackendError(
                f"{instance_type!r} is not a SageMaker {use} instance type "
                f"(botocore's service model lists {len(valid)}, e.g. {examples}).",
                permanent=True,
            )
        return instance_type

    def price_per_hour(self, instance_type: str, *, use: str = "training") -> float | None:
        table = load_prices(self.config.get("price_table_path"))
        return table.get(use, {}).get(instance_type)

    # --- training -------------------------------------------------------------------------

    def training_request(self, spec: TrainingSpec) -> dict:
        """CreateTrainingJob's arguments for ``spec`` (but its name and tags);
        a tuning job's trials use the same."""
        instance = spec.instance_type or self.config.get("default_instance_type") or "ml.m5.large"
        self.validate_instance_type(instance, use="training")
        gpu = is_gpu(instance)
        image = self.config.get("training_image_gpu" if gpu else "training_image") or (
            DEFAULT_GPU_TRAINING_IMAGE if gpu else DEFAULT_TRAINING_IMAGE
        ).format(region=self.region)
        hyperparameters = {
            **self._script_mode(),
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
            "RoleArn": self._role(),
            "OutputDataConfig": {"S3OutputPath": f"{self._output_uri()}/training"},
            "ResourceConfig": {"InstanceType": instance, "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": int(self.config.get("max_runtime_seconds", 86400))},
        }

    def _script_mode(self) -> dict[str, str]:
        """The hyperparameters that make the framework image run Atrium's program (as the SageMaker SDK sets them)."""
        return {
            "sagemaker_program": PROGRAM.name,
            "sagemaker_submit_directory": self._source_dir(),
            "sagemaker_region": self.region,
        }

    def _source_dir(self) -> str:
        """The S3 URI of the program's source tarball, uploaded the first time this version of it runs."""
        if self._source_uri:
            return self._source_uri
        from botocore.exceptions import ClientError

        files = source_bundle()
        bucket, _, prefix = self._output_uri().removeprefix("s3://").partition("/")
        key = f"{prefix}/code/{job_code.digest(files)}/sourcedir.tar.gz".lstrip("/")
        s3 = self.client("s3")
        with aws("Put Atrium's training program in S3"):
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise
                s3.put_object(Bucket=bucket, Key=key, Body=job_code.tarball(files))
        self._source_uri = f"s3://{bucket}/{key}"
        return self._source_uri

    def submit_training(self, spec: TrainingSpec) -> str:
        name = aws_name(spec.key, "job key")
        request = self.training_request(spec)
        from botocore.exceptions import ClientError

        with aws("Start the SageMaker training job"):
            try:
                self.sm.create_training_job(TrainingJobName=name, Tags=aws_tags(spec.tags), **request)
            except ClientError as exc:
                if _error_code(exc) != "ResourceInUse":
                    raise
                self.sm.describe_training_job(TrainingJobName=name)  # the job of an earlier submit: reuse it
        return name

    # batch inference: a SageMaker batch transform (batch.py)

    def submit_batch(self, spec: BatchSpec) -> str:
        from .batch import submit_batch

        return submit_batch(self, spec)

    def poll_batch(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        from .batch import poll_batch

        return poll_batch(self, external_id, log_cursor=log_cursor)

    def cancel_batch(self, external_id: str) -> None:
        from .batch import cancel_batch

        cancel_batch(self, external_id)

    # hyperparameter search: a SageMaker tuning job (tuning.py)

    def submit_tuning(self, spec: TuningSpec) -> str:
        from .tuning import submit_tuning

        return submit_tuning(self, spec)

    def poll_tuning(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        from .tuning import poll_tuning

        return poll_tuning(self, external_id, log_cursor=log_cursor)

    def cancel_tuning(self, external_id: str) -> None:
        from .tuning import cancel_tuning

        cancel_tuning(self, external_id)

    def poll_training(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        with aws("Read the SageMaker training job"):
            job = self.sm.describe_training_job(TrainingJobName=external_id)
        status = job["TrainingJobStatus"]
        secondary = job.get("SecondaryStatus", "")
        transitions = job.get("SecondaryStatusTransitions", [])
        logs = [
            f"{t['StartTime']:%Y-%m-%d %H:%M:%S} {t['Status']}: {t.get('StatusMessage', '')}".rstrip(": ")
            for t in transitions[log_cursor:]
        ]
        common = {"logs": logs, "log_cursor": len(transitions)}
        outputs = {"training_job": external_id, "training_job_arn": job.get("TrainingJobArn", "")}
        if status == "Completed":
            outputs.update(self._register(job))
            return JobStatus(state=JobState.SUCCEEDED, progress=100, message="Completed", outputs=outputs, **common)
        if status == "Failed":
            reason = job.get("FailureReason") or "The training job failed."
            return JobStatus(state=JobState.FAILED, message=reason, outputs=outputs, **common)
        if status == "Stopped":
            return JobStatus(state=JobState.CANCELLED, message="Stopped", outputs=outputs, **common)
        state = JobState.PENDING if secondary in ("Pending", "Starting") else JobState.RUNNING
        progress = SECONDARY_PROGRESS.get(secondary, 50)
        return JobStatus(state=state, progress=progress, message=secondary or status, outputs=outputs, **common)

    def cancel_training(self, external_id: str) -> None:
        from botocore.exceptions import ClientError

        with aws("Stop the SageMaker training job"):
            try:
                self.sm.stop_training_job(TrainingJobName=external_id)
            except ClientError as exc:
                if _error_code(exc) != "ValidationException":
                    raise
                status = self.sm.describe_training_job(TrainingJobName=external_id)["TrainingJobStatus"]
                if status not in ("Completed", "Failed", "Stopped", "Stopping"):
                    raise

    # --- registry -------------------------------------------------------------------------

    def _register(self, job: dict) -> dict:
        """The job's model package (versioned), created on the first poll that sees it complete."""
        name = job["TrainingJobName"]
        model_name = job.get("HyperParameters", {}).get("model_name") or name
        group = group_name(model_name)
        description = f"Trained by SageMaker training job {name}"
        with aws("Register the model in SageMaker"):
            tags = self.sm.list_tags(ResourceArn=job["TrainingJobArn"]).get("Tags", [])
            self._ensure_group(group, tags)
            package = next((p for p in self._packages(group) if p.get("ModelPackageDescription") == description), None)
            if package is None:
                metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
                metadata = {"training_job": name, **{f"metric:{k}": str(v) for k, v in metrics.items()}}
                run = next((t["Value"] for t in tags if t["Key"] == "run"), "")
                if run:
                    metadata["run"] = run
                arn = self.sm.create_model_package(
                    ModelPackageGroupName=group,
                    ModelPackageDescription=description,
                    InferenceSpecification={
                        "Containers": [
                            {
                                "Image": job["AlgorithmSpecification"]["TrainingImage"],
                                "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"],
                                "Environment": serving_environment(job.get("HyperParameters", {})),
                            }
                        ],
                        "SupportedContentTypes": ["application/json"],
                        "SupportedResponseMIMETypes": ["application/json"],
                    },
                    ModelApprovalStatus="PendingManualApproval",
                    CustomerMetadataProperties=metadata,
                    Tags=tags,
                )["ModelPackageArn"]
                package = self.sm.describe_model_package(ModelPackageName=arn)
        version = str(package["ModelPackageVersion"])
        return {
            "model_name": model_name,
            "model_group": group,
            "model_version": version,
            "model_package_arn": package["ModelPackageArn"],
            "model_uri": job.get("ModelArtifacts", {}).get("S3ModelArtifacts", ""),
            "metrics": {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])},
        }

    def _ensure_group(self, group: str, tags: list[dict]) -> None:
        from botocore.exceptions import ClientError

        try:
            self.sm.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError as exc:
            if _error_code(exc) not in ("ValidationException", "ResourceNotFound"):
                raise
            self.sm.create_model_package_group(
                ModelPackageGroupName=group, ModelPackageGroupDescription="Registered by Atrium", Tags=tags
            )

    def _packages(self, group: str) -> list[dict]:
        packages, token = [], None
        while True:
            page = self.sm.list_model_packages(
                ModelPackageGroupName=group, MaxResults=100, **({"NextToken": token} if token else {})
            )
            packages += page.get("ModelPackageSummaryList", [])
            token = page.get("NextToken")
            if not token:
                return packages

    def _package_arn(self, model: ModelRef) -> str:
        group = group_name(model.name)
        for package in self._packages(group):
            if str(package.get("ModelPackageVersion")) == str(model.version):
                return package["ModelPackageArn"]
        raise BackendError(f"Model {model.name} has no version {model.version} in SageMaker.", permanent=True)

    def list_model_versions(self, model_name: str) -> list[ModelVersionInfo]:
        versions = []
        with aws("List the model's versions in SageMaker"):
            for summary in self._packages(group_name(model_name)):
                arn = summary["ModelPackageArn"]
                package = self.sm.describe_model_package(ModelPackageName=arn)
                tags = {t["Key"]: t["Value"] for t in self.sm.list_tags(ResourceArn=arn).get("Tags", [])}
                metadata = package.get("CustomerMetadataProperties") or {}
                containers = package.get("InferenceSpecification", {}).get("Containers", [{}])
                created = package.get("CreationTime")
                versions.append(
                    ModelVersionInfo(
                        name=model_name,
                        version=str(package["ModelPackageVersion"]),
                        source_run_id=metadata.get("run", ""),
                        aliases=sorted(k[len(ALIAS_TAG) :] for k in tags if k.startswith(ALIAS_TAG)),
                        approval_status=package.get("ModelApprovalStatus", ""),
                        tags={k: v for k, v in tags.items() if not k.startswith(ALIAS_TAG)},
                        metrics={k[7:]: float(v) for k, v in metadata.items() if k.startswith("metric:")},
                        artifact_uri=containers[0].get("ModelDataUrl", ""),
                        created_at=created.timestamp() if created else None,
                    )
                )
        return sorted(versions, key=lambda v: int(v.version))

    def set_alias(self, model: ModelRef, alias: str) -> None:
        """An alias is the tag ``atrium:alias:<alias>`` on one version of the group."""
        if not ALIAS.match(alias or ""):
            raise BackendError(f"Invalid alias {alias!r}: letters, digits, '.', '_' or '-'.", permanent=True)
        key = ALIAS_TAG + alias
        with aws("Set the model alias in SageMaker"):
            target = self._package_arn(model)
            for package in self._packages(group_name(model.name)):
                arn = package["ModelPackageArn"]
                if arn != target and any(t["Key"] == key for t in self.sm.list_tags(ResourceArn=arn).get("Tags", [])):
                    self.sm.delete_tags(ResourceArn=arn, TagKeys=[key])
            self.sm.add_tags(ResourceArn=target, Tags=[{"Key": key, "Value": "true"}])

    def set_approval_status(self, model: ModelRef, status: str) -> None:
        valid = enum("ModelApprovalStatus")
        aliases = {v.lower(): v for v in valid} | {"pending": "PendingManualApproval"}
        value = aliases.get(str(status).replace("_", "").lower()) or aliases.get(str(status).lower())
        if value is None:
            raise BackendError(f"Unknown approval status {status!r}; one of {', '.join(valid)}.", permanent=True)
        with aws("Set the model's approval status in SageMaker"):
            self.sm.update_model_package(ModelPackageArn=self._package_arn(model), ModelApprovalStatus=value)

    # --- registry mirror (apps/registry) ------------------------------------------------

    def list_registered_models(self) -> list[RegisteredModelInfo]:
        """Every model package group, with its tags. No fingerprint: a group
        does not say when its packages last changed, so the mirror reads them."""
        groups, token = [], None
        with aws("List the model package groups in SageMaker"):
            while True:
                page = self.sm.list_model_package_groups(MaxResults=100, **({"NextToken": token} if token else {}))
                groups += page.get("ModelPackageGroupSummaryList", [])
                token = page.get("NextToken")
                if not token:
                    break
            infos = []
            for group in groups:
                tags = self.sm.list_tags(ResourceArn=group["ModelPackageGroupArn"]).get("Tags", [])
                created = group.get("CreationTime")
                infos.append(
                    RegisteredModelInfo(
                        name=group["ModelPackageGroupName"],
                        description=group.get("ModelPackageGroupDescription", ""),
                        tags={t["Key"]: t["Value"] for t in tags},
                        updated_at=created.timestamp() if created else None,
                    )
                )
        return infos

    def model_version_details(self, model: ModelRef) -> ModelVersionDetails:
        """The training job's hyperparameters and input; SageMaker keeps no input schema."""
        from botocore.exceptions import ClientError

        with aws("Describe the model package in SageMaker"):
            package = self.sm.describe_model_package(ModelPackageName=self._package_arn(model))
            job_name = (package.get("CustomerMetadataProperties") or {}).get("training_job", "")
            job = {}
            if job_name:
                try:
                    job = self.sm.describe_training_job(TrainingJobName=job_name)
                except ClientError as exc:
                    if _error_code(exc) not in ("ValidationException", "ResourceNotFound"):
                        raise
        params = dict(job.get("HyperParameters") or {})
        params.update(_json_object(params.pop("hyperparameters", "")))
        channels = job.get("InputDataConfig") or []
        source = channels[0].get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "") if channels else ""
        return ModelVersionDetails(
            params={k: str(v) for k, v in params.items()},
            dataset=params.get("dataset") or source,
            stage=(package.get("ModelLifeCycle") or {}).get("Stage", ""),
            created_by=(package.get("CreatedBy") or {}).get("UserProfileName", ""),
            description=package.get("ModelPackageDescription", ""),
        )

    def delete_alias(self, model_name: str, alias: str) -> None:
        key = ALIAS_TAG + alias
        with aws("Remove the model alias in SageMaker"):
            for package in self._packages(group_name(model_name)):
                arn = package["ModelPackageArn"]
                if any(t["Key"] == key for t in self.sm.list_tags(ResourceArn=arn).get("Tags", [])):
                    self.sm.delete_tags(ResourceArn=arn, TagKeys=[key])

    def set_version_tag(self, model: ModelRef, key: str, value: str) -> None:
        if key.startswith(ALIAS_TAG) or key.startswith("aws:"):
            raise BackendError(f"The tag key {key!r} is reserved.", permanent=True)
        with aws("Tag the model package in SageMaker"):
            self.sm.add_tags(ResourceArn=self._package_arn(model), Tags=[{"Key": key, "Value": value}])

    def delete_version_tag(self, model: ModelRef, key: str) -> None:
        with aws("Remove the model package tag in SageMaker"):
            self.sm.delete_tags(ResourceArn=self._package_arn(model), TagKeys=[key])

    # --- endpoints --------------------------------------------------------------------------

    # cpu/gpu/inferentia -> a general-purpose, a single-GPU and an Inferentia2 type (the latter compiled with Neo)
    DEFAULT_INSTANCE_TYPES = {"cpu": "ml.m5.large", "gpu": "ml.g5.xlarge", "inferentia": "ml.inf2.xlarge"}
    deploy_targets = tuple(DEFAULT_INSTANCE_TYPES)

    def instance_type_for(self, target: str) -> str:
        if target not in self.DEFAULT_INSTANCE_TYPES:
            raise BackendError(f"Unknown target {target!r}: one of cpu, gpu, inferentia.", permanent=True)
        return self.validate_instance_type(self.DEFAULT_INSTANCE_TYPES[target], use="endpoint")

    def deploy_endpoint(self, spec: EndpointSpec) -> str:
        name = aws_name(spec.name, "endpoint name")
        if not spec.variants:
            raise BackendError("A deploy needs at least one variant.", permanent=True)
        for variant in spec.variants:
            aws_name(variant.name, "variant name")
            self.validate_instance_type(variant.instance_type, use="endpoint")
        if spec.rollout not in ROUTING:
            raise BackendError(f"Unknown rollout {spec.rollout!r}; one of {', '.join(ROUTING)}.", permanent=True)
        with aws(f"Deploy endpoint {name}"):
            models = {v.name: self._model_for(v, spec.tags) for v in spec.variants}
            current = self._describe_endpoint(name)
            if current is None:
                config = self._endpoint_config(name, [self._variant(v, models[v.name]) for v in spec.variants], spec)
                self.sm.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=aws_tags(spec.tags))
                return name
            if current["EndpointStatus"] != "InService":
                raise BackendError(f"Endpoint {name} is {current['EndpointStatus']}; the deploy waits for it.")
            if any(v.instance_type.startswith("ml.inf1.") for v in spec.variants):
                return self._inf1_shift(current, spec, models)
            config = self._endpoint_config(name, [self._variant(v, models[v.name]) for v in spec.variants], spec)
            if config == current["EndpointConfigName"]:
                return name  # already deployed (a redelivered submit)
            self.sm.update_endpoint(
                EndpointName=name, EndpointConfigName=config, DeploymentConfig=self._deployment_config(spec)
            )
            self._push_undo(current["EndpointArn"], f"config:{current['EndpointConfigName']}", {})
        return name

    def _describe_endpoint(self, name: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.sm.describe_endpoint(EndpointName=name)
        except ClientError as exc:
            if _error_code(exc) == "ValidationException" and "Could not find" in str(exc):
                return None
            raise

    def _variant(self, variant: EndpointVariant, model_name: str, weight: float | None = None) -> dict:
        return {
            "VariantName": variant.name,
            "ModelName": model_name,
            "InstanceType": variant.instance_type,
            "InitialInstanceCount": variant.instance_count,
            "InitialVariantWeight": float(variant.weight if weight is None else weight),
        }

    def _endpoint_config(self, endpoint: str, variants: list[dict], spec: EndpointSpec) -> str:
        """An endpoint config named by what it holds, so a resubmit reuses it."""
        from botocore.exceptions import ClientError

        name = f"{endpoint[:54].rstrip('-')}-{_short_hash(variants)}"
        try:
            self.sm.describe_endpoint_config(EndpointConfigName=name)
        except ClientError as exc:
            if _error_code(exc) != "ValidationException":
                raise
            self.sm.create_endpoint_config(
                EndpointConfigName=name, ProductionVariants=variants, Tags=aws_tags(spec.tags)
            )
        return name

    def _deployment_config(self, spec: EndpointSpec) -> dict:
        routing: dict[str, Any] = {
            "Type": ROUTING[spec.rollout],
            "WaitIntervalInSeconds": int(self.config.get("bake_seconds", 300)),
        }
        size = {"Type": "CAPACITY_PERCENT", "Value": int(spec.canary_percent)}
        if spec.rollout == "canary":
            routing["CanarySize"] = size
        elif spec.rollout == "linear":
            routing["LinearStepSize"] = size
        config: dict[str, Any] = {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": int(self.config.get("termination_wait_seconds", 0)),
                "MaximumExecutionTimeoutInSeconds": int(self.config.get("max_rollout_seconds", 3600)),
            }
        }
        alarms = self.config.get("rollback_alarms") or []
        if alarms:
            config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
        return config

    def _model_for(self, variant: EndpointVariant, tags: dict[str, str]) -> str:
        """The SageMaker Model a variant serves: the model package itself, or for
        ``ml.inf2.*`` the output of a Neo compilation job for ``ml_inf2``."""
        from botocore.exceptions import ClientError

        package_arn = self._package_arn(variant.model)
        base = f"{group_name(variant.model.name)[:50]}-v{variant.model.version}"
        if variant.instance_type.startswith("ml.inf2."):
            model_name, container = self._neo_compiled(variant, package_arn, f"{base}-inf2", tags)
        else:
            model_name, container = base, {"ModelPackageName": package_arn}
        try:
            self.sm.create_model(
                ModelName=model_name, ExecutionRoleArn=self._role(), PrimaryContainer=container, Tags=aws_tags(tags)
            )
        except ClientError as exc:
            if "already exist" not in str(exc):
                raise
        return model_name

    def _neo_compiled(self, variant: EndpointVariant, package_arn: str, job: str, tags) -> tuple[str, dict]:
        from botocore.exceptions import ClientError

        package = self.sm.describe_model_package(ModelPackageName=package_arn)
        source = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        input_config = {
            "S3Uri": source,
            "Framework": self.config.get("neo_framework", "PYTORCH"),
            "DataInputConfig": self.config.get("neo_data_input_config", '{"input0": [1, 20]}'),
        }
        if self.config.get("neo_framework_version"):
            input_config["FrameworkVersion"] = self.config["neo_framework_version"]
        try:
            self.sm.create_compilation_job(
                CompilationJobName=job,
                RoleArn=self._role(),
                InputConfig=input_config,
                OutputConfig={"S3OutputLocation": f"{self._output_uri()}/neo/{job}", "TargetDevice": "ml_inf2"},
                StoppingCondition={"MaxRuntimeInSeconds": 900},
                Tags=aws_tags(tags),
            )
        except ClientError as exc:
            if _error_code(exc) != "ResourceInUse":
                raise
        compiled = self.sm.describe_compilation_job(CompilationJobName=job)
        status = compiled["CompilationJobStatus"]
        if status in ("FAILED", "STOPPED", "STOPPING"):
            raise BackendError(
                f"Neo compilation {job} for Inferentia2 {status.lower()}: {compiled.get('FailureReason', '')}",
                permanent=True,
            )
        if status != "COMPLETED":
            raise NotReady(f"Compiling {variant.model.name} v{variant.model.version} for Inferentia2 (Neo {job}).")
        container = {
            "Image": self.config.get("inf2_image") or compiled["InferenceImage"],
            "ModelDataUrl": compiled["ModelArtifacts"]["S3ModelArtifacts"],
        }
        return job, container

    def _inf1_shift(self, current: dict, spec: EndpointSpec, models: dict[str, str]) -> str:
        """No guardrails on inf1: add the new variant at weight 0; polls then shift traffic step by step."""
        if len(spec.variants) != 1:
            raise BackendError("An inf1 rollout brings one new variant at a time.", permanent=True)
        new = spec.variants[0]
        old = self.sm.describe_endpoint_config(EndpointConfigName=current["EndpointConfigName"])["ProductionVariants"]
        if new.name in {v["VariantName"] for v in old}:
            if self._tags(current["EndpointArn"]).get(SHIFT_TAG, "").startswith(f"{new.name}:"):
                return spec.name  # this rollout was already submitted and is shifting
            raise BackendError(
                f"Variant {new.name!r} already serves endpoint {spec.name}; an inf1 rollout needs a new variant name "
                "(the old one keeps serving while the portal shifts traffic).",
                permanent=True,
            )
        keep = ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount", "InitialVariantWeight")
        weights = _percentages(current.get("ProductionVariants", []))
        variants = [
            {**{k: v[k] for k in keep if k in v}, "InitialVariantWeight": float(weights.get(v["VariantName"], 0))}
            for v in old
        ] + [self._variant(new, models[new.name], 0)]
        config = self._endpoint_config(spec.name, variants, spec)
        self.sm.update_endpoint(EndpointName=spec.name, EndpointConfigName=config)
        if spec.rollout == "canary":
            steps = [spec.canary_percent, 100]
        elif spec.rollout == "linear":
            steps = [*range(spec.canary_percent, 100, max(1, spec.canary_percent)), 100]
        else:
            steps = [100]
        shift = {SHIFT_TAG: f"{new.name}:{'.'.join(map(str, steps))}"}
        self._push_undo(current["EndpointArn"], f"config:{current['EndpointConfigName']}", shift)
        return spec.name

    def _push_undo(self, arn: str, change: str, extra: dict[str, str]) -> None:
        """Remember how to undo a change (a few deep, in endpoint tags); a new change ends any shift."""
        tags = self._tags(arn)
        stack = [tags[f"{UNDO_TAG}:{i}"] for i in range(UNDO_DEPTH) if f"{UNDO_TAG}:{i}" in tags]
        self._write_undo(arn, [change, *stack][:UNDO_DEPTH], extra)

    def _write_undo(self, arn: str, stack: list[str], extra: dict[str, str]) -> None:
        self.sm.delete_tags(ResourceArn=arn, TagKeys=[SHIFT_TAG] + [f"{UNDO_TAG}:{i}" for i in range(UNDO_DEPTH)])
        tags = {**{f"{UNDO_TAG}:{i}": change for i, change in enumerate(stack)}, **extra}
        if tags:
            self.sm.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def _tags(self, arn: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.sm.list_tags(ResourceArn=arn).get("Tags", [])}

    def _set_tags(self, arn: str, tags: dict[str, str], remove: list[str] = ()) -> None:
        if remove:
            self.sm.delete_tags(ResourceArn=arn, TagKeys=list(remove))
        if tags:
            self.sm.delete_tags(ResourceArn=arn, TagKeys=list(tags))
            self.sm.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def get_endpoint(self, name: str) -> EndpointStatus:
        with aws(f"Read endpoint {name}"):
            endpoint = self._describe_endpoint(name)
            if endpoint is None:
                raise BackendError(f"Endpoint {name} does not exist in SageMaker.", permanent=True)
            state = ENDPOINT_STATES.get(endpoint["EndpointStatus"], "updating")
            weights = _percentages(endpoint.get("ProductionVariants", []))
            if state == "in_service":
                shift = self._tags(endpoint["EndpointArn"]).get(SHIFT_TAG)
                if shift:
                    weights = self._shift_step(endpoint, shift)
                    state = "updating"
        return EndpointStatus(name=name, state=state, weights=weights, message=endpoint.get("FailureReason", ""))

    def _shift_step(self, endpoint: dict, shift: str) -> dict[str, int]:
        """Apply the next step of a portal-driven traffic shift (inf1)."""
        new, _, steps = shift.partition(":")
        remaining = [int(s) for s in steps.split(".") if s]
        percent, rest = remaining[0], remaining[1:]
        current = _percentages(endpoint.get("ProductionVariants", []))
        others = {k: v for k, v in current.items() if k != new}
        total = sum(others.values())
        weights = {k: (100 - percent) * (v / total if total else 1 / max(1, len(others))) for k, v in others.items()}
        weights[new] = percent
        self.sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint["EndpointName"],
            DesiredWeightsAndCapacities=[{"VariantName": k, "DesiredWeight": float(v)} for k, v in weights.items()],
        )
        if rest:
            self._set_tags(endpoint["EndpointArn"], {SHIFT_TAG: f"{new}:{'.'.join(map(str, rest))}"})
        else:
            self.sm.delete_tags(ResourceArn=endpoint["EndpointArn"], TagKeys=[SHIFT_TAG])
        return {k: round(v) for k, v in weights.items()}

    def update_traffic(self, name: str, weights: dict[str, int]) -> None:
        with aws(f"Change the traffic of endpoint {name}"):
            endpoint = self._describe_endpoint(name)
            if endpoint is None:
                raise BackendError(f"Endpoint {name} does not exist in SageMaker.", permanent=True)
            current = _percentages(endpoint.get("ProductionVariants", []))
            unknown = set(weights) - set(current)
            if unknown:
                raise BackendError(
                    f"Endpoint {name} has no variant {', '.join(sorted(unknown))} (it has {', '.join(current)}).",
                    permanent=True,
                )
            self.sm.update_endpoint_weights_and_capacities(
                EndpointName=name,
                DesiredWeightsAndCapacities=[{"VariantName": k, "DesiredWeight": float(v)} for k, v in weights.items()],
            )
            undo = "weights:" + "/".join(f"{k}={v}" for k, v in current.items())
            self._push_undo(endpoint["EndpointArn"], undo, {})

    def rollback_endpoint(self, name: str) -> None:
        """Undo the portal's last change: a weights change or an endpoint config change."""
        with aws(f"Roll back endpoint {name}"):
            endpoint = self._describe_endpoint(name)
            if endpoint is None:
                raise BackendError(f"Endpoint {name} does not exist in SageMaker.", permanent=True)
            tags = self._tags(endpoint["EndpointArn"])
            undo = tags.get(f"{UNDO_TAG}:0", "")
            kind, _, value = undo.partition(":")
            if kind == "weights":
                weights = dict(pair.split("=") for pair in value.split("/") if pair)
                self.sm.update_endpoint_weights_and_capacities(
                    EndpointName=name,
                    DesiredWeightsAndCapacities=[
                        {"VariantName": k, "DesiredWeight": float(v)} for k, v in weights.items()
                    ],
                )
            elif kind == "config":
                if endpoint["EndpointStatus"] != "InService":
                    raise BackendError(f"Endpoint {name} is {endpoint['EndpointStatus']}; roll back when it settles.")
                self.sm.update_endpoint(EndpointName=name, EndpointConfigName=value)
            else:
                raise BackendError(
                    f"Nothing to roll back on endpoint {name}: the portal has not changed it since it was created.",
                    permanent=True,
                )
            stack = [tags[f"{UNDO_TAG}:{i}"] for i in range(1, UNDO_DEPTH) if f"{UNDO_TAG}:{i}" in tags]
            self._write_undo(endpoint["EndpointArn"], stack, {})

    def delete_endpoint(self, name: str) -> None:
        from botocore.exceptions import ClientError

        with aws(f"Delete endpoint {name}"):
            try:
                self.sm.delete_endpoint(EndpointName=name)
            except ClientError as exc:
                if not (_error_code(exc) == "ValidationException" and "Could not find" in str(exc)):
                    raise

    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        with aws(f"Invoke endpoint {name}"):
            response = self.client("sagemaker-runtime").invoke_endpoint(
                EndpointName=name, ContentType="application/json", Accept="application/json", Body=json.dumps(payload)
            )
            body = response["Body"].read().decode("utf-8", errors="replace")
        try:
            result = json.loads(body)
        except ValueError:
            result = body
        result = result if isinstance(result, dict) else {"result": result}
        variant = response.get("InvokedProductionVariant")
        return {**result, "_variant": variant} if variant else result

    # --- resources (CloudFormation) ------------------------------------------------------

    def provision(self, spec: ResourceSpec) -> str:
        if spec.kind not in STACK_TEMPLATES:
            raise BackendError(
                f"Unknown resource {spec.kind!r} on AWS; one of {', '.join(sorted(STACK_TEMPLATES))}.", permanent=True
            )
        stack = aws_name(spec.key, "resource key")
        name = aws_name(str(spec.parameters.get("name") or spec.key), "resource name").lower()
        from botocore.exceptions import ClientError

        with aws("Create the CloudFormation stack"):
            try:
                self.client("cloudformation").create_stack(
                    StackName=stack,
                    TemplateBody=json.dumps(workspace_template()),
                    Parameters=[{"ParameterKey": "Name", "ParameterValue": name}],
                    Capabilities=["CAPABILITY_NAMED_IAM"],
                    Tags=aws_tags({**spec.tags, "atrium:resource": spec.kind}),
                )
            except ClientError as exc:
                if _error_code(exc) != "AlreadyExistsException":
                    raise
        return stack

    def poll_provision(self, external_id: str) -> JobStatus:
        with aws("Read the CloudFormation stack"):
            stack = self.client("cloudformation").describe_stacks(StackName=external_id)["Stacks"][0]
        status = stack["StackStatus"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            return JobStatus(state=JobState.SUCCEEDED, progress=100, message="Ready", outputs=outputs)
        if status.endswith("IN_PROGRESS") and not status.startswith(("ROLLBACK", "DELETE")):
            return JobStatus(state=JobState.RUNNING, progress=50, message=status)
        reason = stack.get("StackStatusReason") or status
        return JobStatus(state=JobState.FAILED, message=f"Stack {external_id} is {status}: {reason}")

    def teardown(self, external_id: str) -> None:
        with aws("Delete the CloudFormation stack"):
            self.client("cloudformation").delete_stack(StackName=external_id)

    def stack_status(self, external_id: str) -> str:
        """The stack's status; ``DELETE_COMPLETE`` once a teardown is over."""
        from botocore.exceptions import ClientError

        with aws("Read the CloudFormation stack"):
            try:
                return self.client("cloudformation").describe_stacks(StackName=external_id)["Stacks"][0]["StackStatus"]
            except ClientError as exc:
                if "does not exist" in str(exc):
                    return "DELETE_COMPLETE"
                raise

    # --- costs ------------------------------------------------------------------------------

    def get_costs(self, *, start: date, end: date, tags: dict[str, str] | None = None) -> list[CostRecord]:
        """Daily costs from Cost Explorer from ``start`` to ``end`` (both included),
        grouped by cost-allocation tags (``cost_group_by``, default team and project)."""
        group_by = list(self.config.get("cost_group_by") or ["team", "project"])[:2]
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": (end + timedelta(days=1)).isoformat()},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [
                {"Type": "DIMENSION", "Key": "SERVICE"} if key == "SERVICE" else {"Type": "TAG", "Key": key}
                for key in group_by
            ],
        }
        filters = [{"Tags": {"Key": k, "Values": [v], "MatchOptions": ["EQUALS"]}} for k, v in (tags or {}).items()]
        if len(filters) == 1:
            request["Filter"] = filters[0]
        elif filters:
            request["Filter"] = {"And": filters}
        records: list[CostRecord] = []
        with aws("Read costs from Cost Explorer"):
            token = None
            while True:
                page = self.client("ce").get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
                for period in page.get("ResultsByTime", []):
                    day = date.fromisoformat(period["TimePeriod"]["Start"])
                    for group in period.get("Groups", []) or [{"Keys": [], "Metrics": period.get("Total", {})}]:
                        records.append(self._cost_record(day, group, group_by, tags or {}))
                token = page.get("NextPageToken")
                if not token:
                    break
        return [r for r in records if r is not None]

    @staticmethod
    def _cost_record(day: date, group: dict, group_by: list[str], filters: dict[str, str]) -> CostRecord | None:
        metric = group.get("Metrics", {}).get("UnblendedCost")
        if not metric:
            return None
        tags, service = dict(filters), ""
        for key, value in zip(group_by, group.get("Keys", []), strict=False):
            if key == "SERVICE":
                service = value
            else:
                _, _, tag_value = value.partition("$")  # Cost Explorer answers "team$alpha"
                tags[key] = tag_value
        return CostRecord(
            day=day, amount=float(metric["Amount"]), currency=metric.get("Unit", "USD"), tags=tags, service=service
        )


def workspace_template() -> dict:
    """S3 bucket for artifacts, the SageMaker execution role, an ECR repository."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Atrium workspace: artifacts bucket, SageMaker execution role, image repository",
        "Parameters": {"Name": {"Type": "String"}},
        "Resources": {
            "ArtifactBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "ExecutionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Fn::Sub": "atrium-${Name}-sagemaker"},
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "sagemaker.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"],
                },
            },
            "Repository": {
                "Type": "AWS::ECR::Repository",
                "Properties": {"RepositoryName": {"Fn::Sub": "atrium/${Name}"}},
            },
        },
        "Outputs": {
            "BucketName": {"Value": {"Ref": "ArtifactBucket"}},
            "RoleArn": {"Value": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}},
            "RepositoryUri": {"Value": {"Fn::GetAtt": ["Repository", "RepositoryUri"]}},
        },
    }
