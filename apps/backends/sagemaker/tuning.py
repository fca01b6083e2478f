"""SageMaker hyperparameter tuning jobs for the portal's searches.

The trials run the same training container as a single training (the static
hyperparameters are the training's, ``training.training_request``), with
SageMaker drawing the searched hyperparameters from the ranges; the container
reads each searched hyperparameter as an override of the ``hyperparameters``
JSON. The best trial's model is registered in the model package group like a
training's, and its final metrics are the search's.
"""

from __future__ import annotations

import hashlib
import json

from ..base import JobState, JobStatus, TrainingSpec, TuningSpec
from ..jobs.training import minimizes, objective_for
from . import registry
from .client import aws, aws_tags, console_link, error_code
from .training import final_metrics
from .training import job_link as training_job_link

RANGE_KEYS = {
    "int": "IntegerParameterRanges",
    "float": "ContinuousParameterRanges",
    "categorical": "CategoricalParameterRanges",
}
MAX_PARALLEL = 2


def tuning_job_name(key: str) -> str:
    """At most 32 characters (SageMaker's limit for tuning jobs), the same for the same key."""
    return "atr-" + hashlib.sha256(key.encode()).hexdigest()[:28]


def parameter_ranges(search_space: dict) -> dict:
    ranges: dict[str, list] = {key: [] for key in RANGE_KEYS.values()}
    for name, space in search_space.items():
        if space["type"] == "categorical":
            ranges[RANGE_KEYS["categorical"]].append({"Name": name, "Values": [str(v) for v in space["values"]]})
            continue
        item = {"Name": name, "MinValue": str(space["low"]), "MaxValue": str(space["high"])}
        item["ScalingType"] = "Logarithmic" if space.get("log") else "Auto"
        ranges[RANGE_KEYS[space["type"]]].append(item)
    return ranges


def trial_spec(spec: TuningSpec) -> TrainingSpec:
    """The training each trial runs (before SageMaker draws its searched hyperparameters)."""
    return TrainingSpec(
        key=spec.key,
        model_name=spec.model_name,
        dataset=spec.dataset,
        algorithm=spec.algorithm,
        task=spec.task,
        target_column=spec.target_column,
        dataset_options=spec.dataset_options,
        instance_type=spec.instance_type,
        tags=spec.tags,
    )


def submit_tuning(sm, spec: TuningSpec, training: dict) -> str:
    """Start the search; ``training`` is CreateTrainingJob's request for its trials."""
    from botocore.exceptions import ClientError

    name = tuning_job_name(spec.key)
    objective = objective_for(spec.task, spec.objective)
    definition = {
        "StaticHyperParameters": training["HyperParameters"],
        "AlgorithmSpecification": training["AlgorithmSpecification"],  # its metric definitions name the objective
        "RoleArn": training["RoleArn"],
        "OutputDataConfig": training["OutputDataConfig"],
        "ResourceConfig": training["ResourceConfig"],
        "StoppingCondition": training["StoppingCondition"],
    }
    config = {
        "Strategy": "Random",
        "HyperParameterTuningJobObjective": {
            "Type": "Minimize" if minimizes(objective, spec.direction) else "Maximize",
            "MetricName": f"validation:{objective}",
        },
        "ResourceLimits": {
            "MaxNumberOfTrainingJobs": spec.max_trials,
            "MaxParallelTrainingJobs": min(MAX_PARALLEL, spec.max_trials),
        },
        "ParameterRanges": parameter_ranges(spec.search_space),
    }
    with aws("Start the SageMaker tuning job"):
        try:
            sm.create_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name,
                HyperParameterTuningJobConfig=config,
                TrainingJobDefinition=definition,
                Tags=aws_tags(spec.tags),
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUse":
                raise
            sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)  # an earlier submit's
    return name


def job_link(region: str, name: str):
    return console_link(region, "SageMaker tuning job", f"hyper-tuning-jobs/{name}")


def poll_tuning(sm, region: str, external_id: str, *, log_cursor: int = 0) -> JobStatus:
    with aws("Read the SageMaker tuning job"):
        job = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=external_id)
    status = job["HyperParameterTuningJobStatus"]
    counters = job.get("TrainingJobStatusCounters", {})
    total = job["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    finished = sum(counters.get(k, 0) for k in ("Completed", "NonRetryableError", "Stopped"))
    line = f"{finished} of {total} training jobs finished ({counters.get('InProgress', 0)} in progress)"
    logs = [line] if finished > log_cursor or log_cursor == 0 else []
    common = {
        "logs": logs,
        "log_cursor": max(finished, 1) if logs else log_cursor,
        "links": [job_link(region, external_id)],
    }
    outputs = {"tuning_job": external_id, "tuning_job_arn": job.get("HyperParameterTuningJobArn", "")}
    if status == "Completed":
        best = job.get("BestTrainingJob") or {}
        if not best.get("TrainingJobName"):
            return JobStatus(state=JobState.FAILED, message="The tuning job named no best training job.", **common)
        with aws("Read the best training job"):
            training = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
        model, extras = registry.register(sm, training)
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
        outputs.update(
            extras,
            best_training_job=best["TrainingJobName"],
            best_params=_typed(best.get("TunedHyperParameters", {})),
            objective=metric.get("MetricName", "").removeprefix("validation:"),
            direction=job["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"].lower(),
            best_score=metric.get("Value"),
            trials=total,
        )
        common["links"] += [
            training_job_link(region, best["TrainingJobName"]),
            registry.group_link(region, model.name),
        ]
        return JobStatus(
            state=JobState.SUCCEEDED,
            progress=100,
            message="Completed",
            outputs=outputs,
            model=model,
            metrics=final_metrics(training),
            **common,
        )
    if status == "Failed":
        reason = job.get("FailureReason") or "The tuning job failed."
        return JobStatus(state=JobState.FAILED, message=reason, outputs=outputs, **common)
    if status == "Stopped":
        return JobStatus(state=JobState.CANCELLED, message="Stopped", outputs=outputs, **common)
    progress = 5 + 90 * finished / max(total, 1)
    return JobStatus(state=JobState.RUNNING, progress=progress, message=line, outputs=outputs, **common)


def cancel_tuning(sm, external_id: str) -> None:
    from botocore.exceptions import ClientError

    with aws("Stop the SageMaker tuning job"):
        try:
            sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=external_id)
        except ClientError as exc:
            if error_code(exc) not in {"ValidationException", "ResourceNotFound"}:
                raise


def _typed(values: dict[str, str]) -> dict:
    """SageMaker hands hyperparameters back as strings."""
    typed = {}
    for name, value in values.items():
        try:
            typed[name] = json.loads(value)
        except (TypeError, ValueError):
            typed[name] = value
    return typed
