"""A STAND-IN for AWS, not AWS: moto's server with the few server-side
extensions the SageMaker backend's flows need where moto is incomplete.

It speaks the real wire protocol, so boto3 reaches it through ``endpoint_url``
(or ``AWS_ENDPOINT_URL``) alone; the backend has no sandbox branch.

Extensions (patched into moto's SageMaker backend in this process before the
server starts; moto's server runs in the same process):

* Training jobs pass through ``InProgress`` (SecondaryStatus ``Starting`` then
  ``Training``) before ``Completed`` over a few DescribeTrainingJob polls. A
  job whose hyperparameters mention ``sandbox_fail`` (key or value, also inside
  a JSON value), or whose ``sagemaker_submit_directory`` is not in S3, ends
  ``Failed`` with a FailureReason. The job's MetricDefinitions are kept as sent.
  No container runs: the metrics of a completed job are FABRICATED
  (``validation:accuracy`` 0.95). A second CreateTrainingJob
  with the same name answers ``ResourceInUse`` as AWS does. StopTrainingJob
  (missing in moto) goes ``Stopping`` -> ``Stopped``.
* Endpoints pass ``Creating`` / ``Updating`` -> ``InService`` over polls.
  UpdateEndpoint (missing in moto) accepts a DeploymentConfig (blue/green with
  ALL_AT_ONCE, CANARY or LINEAR traffic routing, auto-rollback alarms), checks
  it like AWS and reports it back as ``LastDeploymentConfig``.
* Endpoint configs check instance types against botocore's service model
  (moto's own list predates ml.inf2, ml.g5 and others).
* Neo compilation jobs pass ``INPROGRESS`` -> ``COMPLETED`` over polls.
* Hyperparameter tuning jobs (moto marks them Completed at once, with a
  made-up best job) start one real training job per trial, with the static
  hyperparameters plus values drawn from the parameter ranges, stay
  ``InProgress`` until those end, then name the best trial. Trial metrics are
  FABRICATED by the stand-in (a number derived from the trial's
  hyperparameters): nothing is trained here.
* Model packages: AddTags/ListTags/DeleteTags work on model-package ARNs, tags
  replace same-key tags, and UpdateModelPackage keeps what it is not given
  (moto cleared the approval status and customer metadata).

Fault knob (a WSGI middleware around moto's app), for tests and demos:

* ``POST /_sandbox/faults`` with ``{"throttle": N}`` answers the next N AWS
  calls with a ``ThrottlingException`` (HTTP 400; S3's ``SlowDown``, HTTP 503);
  ``AwsStandIn.throttle(N)`` does the same in-process.
* Any access key id starting with ``AKIADENIED`` is refused with
  ``AccessDeniedException``.

Canned data goes through moto's own endpoints: ``seed_costs`` posts to
``/moto-api/static/ce/cost-and-usage-results`` (GetCostAndUsage answers from
that queue) and ``seed_invocations`` to
``/moto-api/static/sagemaker/endpoint-results`` (InvokeEndpoint answers).

State lives in this process; it does not survive a restart.

Run it: ``python -m apps.backends.sandbox.aws --port 5010``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import urllib.request
import weakref
from pathlib import Path
from typing import Any

from . import sagemaker_programs

DENIED_KEY_PREFIX = "AKIADENIED"
FAIL_MARKER = "sandbox_fail"
TRAINING_POLLS = 2  # DescribeTrainingJob answers InProgress this many times (Starting, then Training)
ENDPOINT_POLLS = 2  # DescribeEndpoint answers Creating/Updating this many times
COMPILATION_POLLS = 1
FAULTS_PATH = "/_sandbox/faults"

_progress: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # moto object -> our bookkeeping
_installed = False
_install_lock = threading.Lock()


# --- the SageMaker extensions ------------------------------------------------------


def install_extensions() -> None:
    """Patch moto's SageMaker backend and responses (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _patch_training()
        _patch_endpoints()
        _patch_compilation()
        _patch_model_packages()
        _patch_tuning()
        _patch_registry_deletes()
        _patch_runtime()
        _installed = True


def _patch_runtime() -> None:
    """With programs_dir, InvokeEndpoint answers with the endpoint's real model (sagemaker_programs).
    (The response is patched, not the backend: moto's backend is not told the endpoint's name.)"""
    from urllib.parse import unquote

    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    class ModelError(JsonRESTError):
        code = 424

        def __init__(self, message: str):
            super().__init__("ModelError", message)

    original = SageMakerRuntimeResponse.invoke_endpoint

    def invoke_endpoint(self):
        if not sagemaker_programs.enabled():
            return original(self)
        sagemaker = sagemaker_backends[self.current_account][self.region]
        name = unquote(self.path.split("/")[2])  # /endpoints/<name>/invocations
        body = self.body.decode() if isinstance(self.body, bytes) else self.body
        try:
            answer = sagemaker_programs.invoke(
                sagemaker, name, body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
        except (ValueError, KeyError, TypeError) as exc:  # what the model's handlers say of a bad request
            raise ModelError(f'Received client error (400) from primary with message "{exc}".') from None
        if answer is None:
            return original(self)
        content, content_type, variant = answer
        return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}, content

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint


def _fail_reason(hyper_parameters: dict | None) -> str | None:
    for key, value in (hyper_parameters or {}).items():
        if key == FAIL_MARKER:
            return str(value) or "failure requested"
        if FAIL_MARKER in str(value):
            try:
                nested = json.loads(value)
            except (TypeError, ValueError):
                return "failure requested"
            if isinstance(nested, dict) and FAIL_MARKER in nested:
                return str(nested[FAIL_MARKER])
            return "failure requested"
    return None


def _missing_source(account_id: str, hyper_parameters: dict | None) -> str | None:
    """Why SageMaker could not start a script-mode job whose ``sagemaker_submit_directory`` is not in S3
    (checked whether or not the stand-in runs programs)."""
    uri = (hyper_parameters or {}).get("sagemaker_submit_directory") or ""
    if not uri.startswith("s3://") or sagemaker_programs.s3_object(account_id, uri) is not None:
        return None
    return f"ClientError: the submit directory {uri} does not exist (NoSuchKey)."


def _patch_training() -> None:
    from moto.core.responses import EmptyResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
    from moto.sagemaker.models import FakeTrainingJob, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    original_create = SageMakerModelBackend.create_training_job
    original_describe = SageMakerModelBackend.describe_training_job

    def create_training_job(self, training_job_name, hyper_parameters, *args, **kwargs):
        if training_job_name in self.training_jobs:
            raise ResourceInUseException(
                "Training job names must be unique within an AWS account and region, and a training job "
                f"with this name already exists ({self.training_jobs[training_job_name].arn})"
            )
        specification = kwargs.get("algorithm_specification") or (args[0] if args else {}) or {}
        sent = specification.get("MetricDefinitions")
        job = original_create(self, training_job_name, hyper_parameters, *args, **kwargs)
        if sent is not None:  # moto answers with made-up definitions
            job.algorithm_specification["MetricDefinitions"] = sent
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.training_end_time = None
        job.final_metric_data_list = []
        fail = _missing_source(self.account_id, hyper_parameters) or _fail_reason(hyper_parameters)
        _progress[job] = {"polls": 0, "fail": fail, "stop": False}
        return job

    def transition(job, status, message):
        now = utcnow()
        if job.secondary_status_transitions:
            job.secondary_status_transitions[-1]["EndTime"] = now
        job.secondary_status_transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        job.secondary_status = status
        job.last_modified_time = now

    def fail(job, reason: str) -> None:
        job.training_job_status = "Failed"
        job.failure_reason = reason
        transition(job, "Failed", reason)
        job.training_end_time = utcnow()

    def complete(job, metrics: list[dict]) -> None:
        transition(job, "Uploading", "Uploading generated training model")
        job.training_job_status = "Completed"
        transition(job, "Completed", "Training job completed")
        job.training_end_time = utcnow()
        job.final_metric_data_list = metrics

    def run_program(job, state) -> None:
        """With programs_dir: the job's program runs; the job ends when it does."""
        process = state.get("process")
        if process is None:
            state["process"] = sagemaker_programs.start_training(job)
            transition(job, "Training", "Training image download completed. Training in progress.")
        elif process.poll() is not None:
            reason, metrics = sagemaker_programs.finish_training(job, process)
            fail(job, reason) if reason else complete(job, metrics)

    def advance(job: FakeTrainingJob) -> None:
        state = _progress.get(job)
        if state is None or job.training_job_status not in ("InProgress", "Stopping"):
            return
        state["polls"] += 1
        if state["stop"]:
            sagemaker_programs.stop(state.get("process"))
            job.training_job_status = "Stopped"
            transition(job, "Stopped", "Training job stopped")
            job.training_end_time = utcnow()
        elif state["fail"] and state["polls"] > TRAINING_POLLS:
            fail(job, f"AlgorithmError: {state['fail']}")
        elif sagemaker_programs.enabled() and not state["fail"]:
            run_program(job, state)
        elif state["polls"] <= TRAINING_POLLS:
            if state["polls"] >= 2 and job.secondary_status == "Starting":
                transition(job, "Training", "Training image download completed. Training in progress.")
        else:
            complete(job, [{"MetricName": "validation:accuracy", "Value": 0.95, "Timestamp": utcnow()}])

    def describe_training_job(self, training_job_name):
        job = self.training_jobs.get(training_job_name)
        if job is not None:
            advance(job)
        return original_describe(self, training_job_name)

    def stop_training_job(self, training_job_name):
        job = self.training_jobs.get(training_job_name)
        if job is None:
            raise ValidationError(message=f"Requested resource not found: training job {training_job_name}")
        if job.training_job_status != "InProgress":
            raise ValidationError(message=f"The training job is {job.training_job_status}; it cannot be stopped.")
        job.training_job_status = "Stopping"
        transition(job, "Stopping", "Stopping the training job")
        _progress.setdefault(job, {"polls": 0, "fail": None, "stop": True})["stop"] = True

    def stop_training_job_response(self):
        self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
        return EmptyResult()

    SageMakerModelBackend.create_training_job = create_training_job
    SageMakerModelBackend.describe_training_job = describe_training_job
    SageMakerModelBackend.stop_training_job = stop_training_job
    SageMakerResponse.stop_training_job = stop_training_job_response


def _trial_values(ranges: dict, index: int) -> dict[str, str]:
    """Deterministic draws from the tuning job's ranges for trial ``index``."""
    import random

    draw = random.Random(index)
    values = {}
    for item in ranges.get("IntegerParameterRanges", []):
        values[item["Name"]] = str(draw.randint(int(item["MinValue"]), int(item["MaxValue"])))
    for item in ranges.get("ContinuousParameterRanges", []):
        values[item["Name"]] = f"{draw.uniform(float(item['MinValue']), float(item['MaxValue'])):.6g}"
    for item in ranges.get("CategoricalParameterRanges", []):
        values[item["Name"]] = draw.choice(item["Values"])
    return values


def _fabricated_score(values: dict[str, str]) -> float:
    import hashlib

    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).digest()
    return round(0.8 + digest[0] / 255 * 0.19, 4)


def _patch_tuning() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    original_create = SageMakerModelBackend.create_hyper_parameter_tuning_job
    original_describe = SageMakerModelBackend.describe_hyper_parameter_tuning_job

    def create(self, hyper_parameter_tuning_job_name, hyper_parameter_tuning_job_config, *args, **kwargs):
        arn = original_create(self, hyper_parameter_tuning_job_name, hyper_parameter_tuning_job_config, *args, **kwargs)
        job = self.hyper_parameter_tuning_jobs[hyper_parameter_tuning_job_name]
        definition = job.training_job_definition or {}
        trials = []
        for index in range(int(hyper_parameter_tuning_job_config["ResourceLimits"]["MaxNumberOfTrainingJobs"])):
            values = _trial_values(hyper_parameter_tuning_job_config.get("ParameterRanges", {}), index)
            name = f"{hyper_parameter_tuning_job_name[:27]}-{index + 1:03d}"
            self.create_training_job(
                name,
                {**definition.get("StaticHyperParameters", {}), **values},
                definition["AlgorithmSpecification"],
                definition["RoleArn"],
                definition.get("InputDataConfig", []),
                definition["OutputDataConfig"],
                definition["ResourceConfig"],
                None,
                definition["StoppingCondition"],
                kwargs.get("tags") or (args[3] if len(args) > 3 else []) or [],
                False,
                False,
                False,
                None,
                None,
                None,
                None,
                None,
            )
            trials.append((name, values))
        job.hyper_parameter_tuning_job_status = "InProgress"
        job.hyper_parameter_tuning_end_time = None
        _progress[job] = {"trials": trials}
        return arn

    def describe(self, hyper_parameter_tuning_job_name):
        job = self.hyper_parameter_tuning_jobs.get(hyper_parameter_tuning_job_name)
        state = _progress.get(job) if job is not None else None
        if state and job.hyper_parameter_tuning_job_status == "InProgress":
            statuses = {}
            for name, _ in state["trials"]:
                statuses[name] = self.describe_training_job(name)["TrainingJobStatus"]  # advances it
            counts = {s: list(statuses.values()).count(s) for s in ("Completed", "InProgress", "Failed", "Stopped")}
            job.training_job_status_counters = {
                "Completed": counts["Completed"],
                "InProgress": counts["InProgress"],
                "RetryableError": 0,
                "NonRetryableError": counts["Failed"],
                "Stopped": counts["Stopped"],
            }
            if not counts["InProgress"]:
                _finish_tuning(self, job, state["trials"], statuses)
        return original_describe(self, hyper_parameter_tuning_job_name)

    SageMakerModelBackend.create_hyper_parameter_tuning_job = create
    SageMakerModelBackend.describe_hyper_parameter_tuning_job = describe


def _trial_score(backend, name: str, values: dict, metric: str) -> float:
    """What a trial scored: its program's metric when programs run, else a number made up from its values."""
    if sagemaker_programs.enabled():
        reported = {m["MetricName"]: m["Value"] for m in backend.training_jobs[name].final_metric_data_list or []}
        if metric in reported:
            return reported[metric]
    return _fabricated_score(values)


def _finish_tuning(backend, job, trials, statuses) -> None:
    from moto.core.utils import utcnow

    objective = job.hyper_parameter_tuning_job_config.get("HyperParameterTuningJobObjective", {})
    done = [(name, values) for name, values in trials if statuses[name] == "Completed"]
    job.hyper_parameter_tuning_end_time = utcnow()
    if not done:
        job.hyper_parameter_tuning_job_status = "Failed"
        job.failure_reason = "No training job of the tuning job completed."
        return
    maximize = objective.get("Type", "Maximize") == "Maximize"
    metric = objective.get("MetricName", "validation:accuracy")
    scored = [(name, values, _trial_score(backend, name, values, metric)) for name, values in done]
    name, values, score = (max if maximize else min)(scored, key=lambda trial: trial[2])
    if not sagemaker_programs.enabled():  # the trials reported nothing: give them the made-up scores
        for trial_name, _, trial_score in scored:
            backend.training_jobs[trial_name].final_metric_data_list = [
                {"MetricName": metric, "Value": trial_score, "Timestamp": utcnow()}
            ]
    training = backend.training_jobs[name]
    job.best_training_job = {
        "TrainingJobName": name,
        "TrainingJobArn": training.arn,
        "TuningJobName": job.hyper_parameter_tuning_job_name,
        "CreationTime": training.creation_time,
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": values,
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": objective.get("Type", "Maximize"),
            "MetricName": objective.get("MetricName", ""),
            "Value": score,
        },
        "ObjectiveStatus": "Succeeded",
    }
    job.OverallBestTrainingJob = job.best_training_job
    job.hyper_parameter_tuning_job_status = "Completed"


ROUTING_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")


def _check_deployment_config(config: dict | None) -> None:
    from moto.sagemaker.exceptions import ValidationError

    if not config:
        return
    policy = config.get("BlueGreenUpdatePolicy")
    if policy is not None:
        routing = policy.get("TrafficRoutingConfiguration") or {}
        kind = routing.get("Type")
        if kind not in ROUTING_TYPES:
            raise ValidationError(
                message=f"Value '{kind}' at 'trafficRoutingConfiguration.type' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {list(ROUTING_TYPES)}"
            )
        if kind == "CANARY" and not routing.get("CanarySize"):
            raise ValidationError(message="CanarySize is required for CANARY traffic routing.")
        if kind == "LINEAR" and not routing.get("LinearStepSize"):
            raise ValidationError(message="LinearStepSize is required for LINEAR traffic routing.")
        for size in (routing.get("CanarySize"), routing.get("LinearStepSize")):
            if size and size.get("Type") not in ("INSTANCE_COUNT", "CAPACITY_PERCENT"):
                raise ValidationError(message=f"Invalid capacity size type {size.get('Type')!r}.")
    for alarm in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []:
        if not alarm.get("AlarmName"):
            raise ValidationError(message="Each auto-rollback alarm needs an AlarmName.")


def _patch_endpoints() -> None:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    original_create = SageMakerModelBackend.create_endpoint

    def validate_instance_type(self, instance_type):
        import botocore.session

        model = botocore.session.get_session().get_service_model("sagemaker")
        valid = model.shape_for("ProductionVariantInstanceType").enum
        if instance_type not in valid:
            raise ValidationError(
                message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: "
                "Member must satisfy enum value set: ProductionVariantInstanceType"
            )

    FakeEndpointConfig.validate_instance_type = validate_instance_type
    original_describe = SageMakerModelBackend.describe_endpoint

    def create_endpoint(self, endpoint_name, endpoint_config_name, tags):
        if endpoint_name in self.endpoints:
            raise ValidationError(
                message=f'Cannot create already existing endpoint "{self.endpoints[endpoint_name].arn}".'
            )
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        endpoint.endpoint_status = "Creating"
        _progress[endpoint] = {"polls": 0, "pending": None}
        return endpoint

    def advance(endpoint: FakeEndpoint) -> None:
        state = _progress.get(endpoint)
        if state is None or endpoint.endpoint_status not in ("Creating", "Updating"):
            return
        state["polls"] += 1
        if state["polls"] <= ENDPOINT_POLLS:
            return
        pending = state.pop("pending", None)
        if pending:
            config_name, variants, deployment_config = pending
            endpoint.endpoint_config_name = config_name
            endpoint.production_variants = endpoint._process_production_variants(variants)
            endpoint.last_deployment_config = deployment_config
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = utcnow()

    def describe_endpoint(self, endpoint_name):
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None:
            advance(endpoint)
        return original_describe(self, endpoint_name)

    def update_endpoint(self, endpoint_name, endpoint_config_name, deployment_config, retain_deployment_config):
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Could not find endpoint "{arn}".')
        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        config = self.endpoint_configs.get(endpoint_config_name)
        if config is None:
            arn = FakeEndpointConfig.arn_formatter(endpoint_config_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Could not find endpoint configuration "{arn}".')
        _check_deployment_config(deployment_config)
        if retain_deployment_config and not deployment_config:
            deployment_config = getattr(endpoint, "last_deployment_config", None)
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        _progress[endpoint] = {
            "polls": 0,
            "pending": (endpoint_config_name, config.production_variants, deployment_config),
        }
        return endpoint

    def update_endpoint_response(self):
        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            deployment_config=self._get_param("DeploymentConfig"),
            retain_deployment_config=self._get_param("RetainDeploymentConfig", False),
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerModelBackend.create_endpoint = create_endpoint
    SageMakerModelBackend.describe_endpoint = describe_endpoint
    SageMakerModelBackend.update_endpoint = update_endpoint
    SageMakerResponse.update_endpoint = update_endpoint_response


def _patch_compilation() -> None:
    from moto.core.utils import utcnow
    from moto.sagemaker.models import SageMakerModelBackend

    original_create = SageMakerModelBackend.create_compilation_job
    original_describe = SageMakerModelBackend.describe_compilation_job

    def create_compilation_job(self, compilation_job_name, *args, **kwargs):
        arn = original_create(self, compilation_job_name, *args, **kwargs)
        job = self.compilation_jobs[compilation_job_name]
        job.compilation_job_status = "INPROGRESS"
        job.compilation_end_time = None
        _progress[job] = {"polls": 0}
        return arn

    def describe_compilation_job(self, compilation_job_name):
        job = self.compilation_jobs.get(compilation_job_name)
        state = _progress.get(job) if job is not None else None
        if state is not None and job.compilation_job_status == "INPROGRESS":
            state["polls"] += 1
            if state["polls"] > COMPILATION_POLLS:
                job.compilation_job_status = "COMPLETED"
                job.compilation_end_time = job.last_modified_time = utcnow()
        return original_describe(self, compilation_job_name)

    SageMakerModelBackend.create_compilation_job = create_compilation_job
    SageMakerModelBackend.describe_compilation_job = describe_compilation_job


def _patch_model_packages() -> None:
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend

    original_resource = SageMakerModelBackend._get_resource_from_arn
    original_update = SageMakerModelBackend.update_model_package

    def _get_resource_from_arn(self, arn):
        if ":model-package/" in arn:
            package = self.model_packages.get(self.model_package_name_mapping.get(arn, arn))
            if package is None:
                raise ValidationError(message=f"Could not find model package {arn}")
            if package.tags is None:
                package.tags = []
            return package
        return original_resource(self, arn)

    def add_tags(self, arn, tags):
        resource = self._get_resource_from_arn(arn)
        keys = {tag["Key"] for tag in tags}
        resource.tags = [tag for tag in (resource.tags or []) if tag["Key"] not in keys] + list(tags)
        return resource.tags

    def update_model_package(
        self,
        model_package_arn,
        model_approval_status,
        approval_description,
        customer_metadata_properties,
        customer_metadata_properties_to_remove,
        additional_inference_specifications_to_add,
    ):
        package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
        if package is not None:
            model_approval_status = model_approval_status or package.model_approval_status
            approval_description = approval_description or package.approval_description
            customer_metadata_properties = {
                **(package.customer_metadata_properties or {}),
                **(customer_metadata_properties or {}),
            }
        return original_update(
            self,
            model_package_arn,
            model_approval_status,
            approval_description,
            customer_metadata_properties,
            customer_metadata_properties_to_remove,
            additional_inference_specifications_to_add,
        )

    SageMakerModelBackend._get_resource_from_arn = _get_resource_from_arn
    SageMakerModelBackend.add_tags = add_tags
    SageMakerModelBackend.update_model_package = update_model_package


def _patch_registry_deletes() -> None:
    """DeleteModelPackage and DeleteModelPackageGroup (missing in moto), as AWS
    answers them: a group with packages left cannot be deleted. The models
    mirror's tests delete upstream with these."""
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def delete_model_package(self, model_package_name):
        arn = self.model_package_name_mapping.get(model_package_name, model_package_name)
        if self.model_packages.pop(arn, None) is None:
            raise ValidationError(message=f"Model package {model_package_name} does not exist.")
        for key in [key for key, value in self.model_package_name_mapping.items() if value == arn]:
            del self.model_package_name_mapping[key]

    def delete_model_package_group(self, model_package_group_name):
        if model_package_group_name not in self.model_package_groups:
            raise ValidationError(message=f"Model package group {model_package_group_name} does not exist.")
        if any(p.model_package_group_name == model_package_group_name for p in self.model_packages.values()):
            raise ValidationError(message="The model package group still has model packages; delete them first.")
        del self.model_package_groups[model_package_group_name]

    def delete_model_package_response(self):
        self.sagemaker_backend.delete_model_package(self._get_param("ModelPackageName"))
        return EmptyResult()

    def delete_model_package_group_response(self):
        self.sagemaker_backend.delete_model_package_group(self._get_param("ModelPackageGroupName"))
        return EmptyResult()

    SageMakerModelBackend.delete_model_package = delete_model_package
    SageMakerModelBackend.delete_model_package_group = delete_model_package_group
    SageMakerResponse.delete_model_package = delete_model_package_response
    SageMakerResponse.delete_model_package_group = delete_model_package_group_response


# --- faults ------------------------------------------------------------------------

_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


class Faults:
    """What the middleware does to the next calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throttle = 0

    def throttle(self, calls: int) -> None:
        with self._lock:
            self._throttle = max(0, int(calls))

    def take_throttle(self) -> bool:
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                return True
            return False


class FaultMiddleware:
    def __init__(self, app, faults: Faults):
        self.app = app
        self.faults = faults

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == FAULTS_PATH:
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        match = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and match.group(1).startswith(DENIED_KEY_PREFIX):
            json_style = _is_json(environ)
            code = "AccessDeniedException" if json_style else "AccessDenied"
            message = f"User: arn:aws:iam::123456789012:user/{match.group(1)} is not authorized to perform this action"
            return _error(start_response, environ, 400 if json_style else 403, code, message)
        if self.faults.take_throttle():
            if _is_s3(environ):  # S3 throttles with 503 SlowDown
                return _error(start_response, environ, 503, "SlowDown", "Please reduce your request rate.")
            code = "ThrottlingException" if _is_json(environ) else "Throttling"
            return _error(start_response, environ, 400, code, "Rate exceeded")
        return self.app(environ, start_response)

    def _control(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if "throttle" in body:
                self.faults.throttle(body["throttle"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"throttle": self.faults._throttle}).encode()]


def _is_json(environ) -> bool:
    return bool(environ.get("HTTP_X_AMZ_TARGET")) or "json" in environ.get("CONTENT_TYPE", "")


def _is_s3(environ) -> bool:
    return "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")


def _error(start_response, environ, status: int, code: str, message: str):
    reason = {400: "Bad Request", 403: "Forbidden", 503: "Slow Down"}[status]
    if _is_s3(environ):
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>sandbox</RequestId></Error>".encode()
        headers = [("Content-Type", "application/xml")]
    elif _is_json(environ) or environ.get("PATH_INFO", "").endswith("/invocations"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    else:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>sandbox</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(body)))])
    return [body]


# --- the server --------------------------------------------------------------------


class AwsStandIn:
    """moto's threaded server with the extensions and the fault middleware."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True, programs_dir: str | Path | None = None
    ):
        import logging

        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        install_extensions()
        self.programs_dir = Path(programs_dir).resolve() if programs_dir else None
        self.faults = Faults()
        faults = self.faults

        class _Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                app = FaultMiddleware(DomainDispatcherApplication(create_backend_app), faults)
                self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        if quiet:  # werkzeug's access log, one line a call
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = _Server(ip_address=host, port=port, verbose=False)
        self.url = ""

    def start(self) -> str:
        if self.programs_dir:  # moto's state is the process's: so is this switch, until stop()
            sagemaker_programs.settings["programs_dir"] = self.programs_dir
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.stop()
        if self.programs_dir:
            sagemaker_programs.settings["programs_dir"] = None

    def throttle(self, calls: int) -> None:
        self.faults.throttle(calls)

    def reset(self) -> None:
        _post(self.url, "/moto-api/reset", {})

    def __enter__(self) -> AwsStandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _post(url: str, path: str, payload: dict) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own stand-in's URL
        url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own stand-in's URL
        return response.status


def create_bucket(url: str, bucket: str) -> None:
    """Create an S3 bucket in the stand-in (moto answers 200 if it exists)."""
    request = urllib.request.Request(f"{url}/{bucket}", method="PUT")  # noqa: S310 - our own stand-in's URL
    request.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=sandbox/20260101/us-east-1/s3/aws4_request")
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - our own stand-in's URL


def seed_costs(url: str, results: list[dict[str, Any]], account_id: str = "123456789012") -> None:
    """Queue GetCostAndUsage answers (each a full response: ResultsByTime, ...)."""
    _post(url, "/moto-api/static/ce/cost-and-usage-results", {"account_id": account_id, "results": results})


def seed_invocations(url: str, results: list[dict[str, Any]], region: str = "us-east-1") -> None:
    """Queue InvokeEndpoint answers: ``{"Body": str, "ContentType": str, "InvokedProductionVariant": str}``."""
    _post(url, "/moto-api/static/sagemaker/endpoint-results", {"region": region, "results": results})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the AWS stand-in (moto with Atrium's extensions).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5010)
    parser.add_argument("--bucket", action="append", default=[], help="an S3 bucket to create at start (repeatable)")
    parser.add_argument("--programs", default=None, help="run training programs and serve their models here")
    args = parser.parse_args(argv)
    stand_in = AwsStandIn(args.host, args.port, quiet=False, programs_dir=args.programs)
    url = stand_in.start()
    for bucket in args.bucket:  # e.g. the sandbox connection's output bucket, as an operator would have made it
        create_bucket(url, bucket)
    print(f"AWS stand-in (moto) listening on {url}; use it as the connection's endpoint URL.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stand_in.stop()


if __name__ == "__main__":
    main()
