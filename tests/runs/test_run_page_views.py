"""What a run's page puts in front of people: labelled fields, a readable log, durations."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.templatetags.atrium import ago, duration
from apps.runs.models import RunEvent, RunStatus, RunStep, StepStatus

pytestmark = pytest.mark.django_db


def page_of(client, run) -> str:
    response = client.get(run.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_parameters_are_labelled_fields_with_the_json_only_behind_raw(ds_client, make_run):
    run = make_run(params={"model_name": "iris-lr", "timeout_seconds": 30, "hyperparameters": {"max_iter": 200}})
    page = page_of(ds_client, run)
    table = re.search(r'<table class="kv fields" data-testid="run-params">(.*?)</table>', page, re.S).group(1)
    assert '<th scope="row" title="model_name">Model name</th>' in table and "iris-lr" in table
    assert "Timeout</th>" in table and '30 <span class="unit">s</span>' in table
    assert "Hyperparameters · Max iter</th>" in table and "200" in table
    assert "{" not in table  # no JSON among the fields
    raw = re.search(r'<details class="raw"><summary>raw</summary><pre class="params">(.*?)</pre>', page, re.S)
    assert raw and "&quot;max_iter&quot;: 200" in raw.group(1)


def test_a_steps_outputs_are_labelled_fields(ds_client, make_run):
    run = make_run(RunStatus.SUCCEEDED)
    run.kind = "template"  # a plan of steps: the steps table shows
    run.save(update_fields=["kind"])
    RunStep.objects.filter(run=run).update(
        status=StepStatus.SUCCEEDED, outputs={"job_name": "train-7", "artifact_uri": "https://example.test/a"}
    )
    page = page_of(ds_client, run)
    outputs = re.search(r'data-testid="step-outputs">(.*?)</table>', page, re.S).group(1)
    assert "Job name</th>" in outputs and "train-7" in outputs
    assert '<a href="https://example.test/a"' in outputs
    assert "{" not in outputs


NOISY_LOG = [
    "21:14:03 Loading dataset iris",
    "2025/01/15 21:14:04 INFO mlflow.tracking.fluent: Experiment with name 'x' does not exist.",
    "2025/01/15 21:14:05 WARNING mlflow.models.model: Model logged without a signature.",
    "\U0001f3c3 View run sassy-owl-12 at: http://127.0.0.1:5000/#/experiments/1/runs/abc",
    "\U0001f9ea View experiment at: http://127.0.0.1:5000/#/experiments/1",
    "21:14:06 ERROR could not write the report",
    "Registered model iris-lr version 3",
]


def log_of(page: str) -> str:
    return re.search(r'<ol class="log" data-testid="log">(.*?)</ol>', page, re.S).group(1)


def test_the_log_has_one_timestamp_a_line_and_no_backend_noise(ds_client, make_run):
    run = make_run(RunStatus.SUCCEEDED)
    RunEvent.objects.bulk_create([RunEvent(run=run, kind=RunEvent.Kind.LOG, message=m) for m in NOISY_LOG])
    log = log_of(page_of(ds_client, run))
    assert "Loading dataset iris" in log and "Registered model iris-lr version 3" in log
    assert "21:14:03 Loading" not in log  # the job's own timestamp: the event has one
    assert "mlflow.tracking" not in log and "Experiment with name" not in log
    assert "View run" not in log and "View experiment" not in log
    assert '<span class="level">WARNING</span> Model logged without a signature.' in log
    assert '<span class="level">ERROR</span> could not write the report' in log
    assert log.count("<time ") == 4  # one a line: loading, the warning, the error, registered
    # Kept stored, and shown in the full log.
    assert RunEvent.objects.filter(run=run, kind="log").count() == len(NOISY_LOG)
    full = log_of(ds_client.get(run.get_absolute_url() + "?log=full").content.decode())
    assert "View run sassy-owl-12" in full and "Experiment with name" in full


def test_durations_and_relative_times_read_as_people_say_them():
    assert duration(timedelta(seconds=11)) == "11 s"
    assert duration(timedelta(seconds=252)) == "4 min 12 s"
    assert duration(120) == "2 min"
    assert duration(timedelta(minutes=65)) == "1 h 5 min"
    now = timezone.now()
    assert ago(now - timedelta(seconds=3), now) == "just now"
    assert ago(now - timedelta(minutes=2), now) == "2 min ago"


def test_a_short_run_says_it_took_seconds_not_minutes(ds_client, make_run):
    start = timezone.now() - timedelta(minutes=5)
    run = make_run(RunStatus.SUCCEEDED, started_at=start, finished_at=start + timedelta(seconds=11))
    page = page_of(ds_client, run)
    assert 'took <span data-testid="run-duration">11 s</span>' in page
    assert "0 minutes" not in page
    listed = ds_client.get("/runs/").content.decode()
    assert "just now" in listed and "0 minutes" not in listed


def test_a_running_step_shows_its_progress(ds_client, make_run):
    run = make_run(RunStatus.RUNNING)
    run.kind = "template"
    run.save(update_fields=["kind"])
    RunStep.objects.filter(run=run).update(
        status=StepStatus.RUNNING, progress=40, started_at=timezone.now() - timedelta(seconds=30)
    )
    cell = re.search(r'data-testid="step-progress">(.*?)</td>', page_of(ds_client, run), re.S).group(1)
    assert '<progress max="100" value="40.0"' in cell and "40%" in cell and "30 s so far" in cell
    RunStep.objects.filter(run=run).update(progress=0)
    cell = re.search(r'data-testid="step-progress">(.*?)</td>', page_of(ds_client, run), re.S).group(1)
    assert "<progress aria-label" in cell  # no figure yet: an indeterminate bar, never an empty cell
