"""Part of the AWS STAND-IN (moto, not AWS): SageMaker hyperparameter tuning
jobs (CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob), patched
into moto's SageMaker backend.

What it adds to moto, and why: moto marks a tuning job Completed at once, with
a made-up best job and no trials, so Atrium's tuning flow (trials, counters,
the best trial's model) had nothing to follow. Here a tuning job starts one
real (stand-in) training job per trial, with the static hyperparameters plus
values drawn deterministically from the parameter ranges, stays
``InProgress`` (with AWS's status counters) until those end, then names the
best trial by the objective metric. Without ``programs_dir`` the trial metrics
are FABRICATED (a number derived from the trial's hyperparameters): nothing is
trained. With it, a trial's score is what its program reported.
"""

from __future__ import annotations

import json
import weakref

from .. import programs

_progress: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # moto's tuning job -> its trials


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


def patch() -> None:
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
    if programs.enabled():
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
    if not programs.enabled():  # the trials reported nothing: give them the made-up scores
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
