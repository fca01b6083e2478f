"""Part of the AWS STAND-IN (moto, not AWS): SageMaker training jobs
(CreateTrainingJob, DescribeTrainingJob, StopTrainingJob), patched into moto's
SageMaker backend.

What it adds to moto, and why:

* A job passes through ``InProgress`` (SecondaryStatus ``Starting`` then
  ``Training``) before ``Completed`` over a few DescribeTrainingJob polls, as on
  AWS; moto completes it at once, so the backend's polling and progress were
  never exercised.
* A job whose hyperparameters mention ``sandbox_fail`` (key or value, also
  inside a JSON value) ends ``Failed`` with a FailureReason: the failure path,
  on demand.
* A script-mode job whose ``sagemaker_submit_directory`` is not in S3 fails as
  SageMaker does (ClientError, NoSuchKey); moto does not look.
* The MetricDefinitions are kept as sent (moto answers made-up ones).
* Without ``programs_dir`` no container runs: the metrics of a completed job
  are FABRICATED (``validation:accuracy`` 0.95). With it, the job's program
  runs on this machine (``..programs``) and the job ends when it does.
* A second CreateTrainingJob with the same name answers ``ResourceInUse``, as
  AWS does (moto overwrote the first).
* StopTrainingJob (missing in moto) goes ``Stopping`` -> ``Stopped``.
"""

from __future__ import annotations

import json
import weakref

from .. import programs

FAIL_MARKER = "sandbox_fail"
TRAINING_POLLS = 2  # DescribeTrainingJob answers InProgress this many times (Starting, then Training)

_progress: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # moto's training job -> our bookkeeping


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
    if not uri.startswith("s3://") or programs.s3_object(account_id, uri) is not None:
        return None
    return f"ClientError: the submit directory {uri} does not exist (NoSuchKey)."


def patch() -> None:
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
            state["process"] = programs.start_training(job)
            transition(job, "Training", "Training image download completed. Training in progress.")
        elif process.poll() is not None:
            reason, metrics = programs.finish_training(job, process)
            fail(job, reason) if reason else complete(job, metrics)

    def advance(job: FakeTrainingJob) -> None:
        state = _progress.get(job)
        if state is None or job.training_job_status not in ("InProgress", "Stopping"):
            return
        state["polls"] += 1
        if state["stop"]:
            programs.stop(state.get("process"))
            job.training_job_status = "Stopped"
            transition(job, "Stopped", "Training job stopped")
            job.training_end_time = utcnow()
        elif state["fail"] and state["polls"] > TRAINING_POLLS:
            fail(job, f"AlgorithmError: {state['fail']}")
        elif programs.enabled() and not state["fail"]:
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
