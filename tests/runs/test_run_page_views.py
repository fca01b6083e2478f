"""What a run's page puts in front of people: labelled fields, a readable log, durations."""

import re

import pytest

from apps.runs.models import RunStatus, RunStep, StepStatus

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
