"""The task layer's retry rules, with Celery running tasks in-process."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.backends import registry
from apps.backends.base import BackendError, NotReady
from apps.runs import services, tasks
from apps.runs.models import Run, RunStatus
from tests.catalog.conftest import catalog_dir, make_template  # noqa: F401 - fixtures
from tests.runs.flaky_backend import FlakyBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky(monkeypatch, settings):
    monkeypatch.setitem(registry.BACKENDS, "flaky", "tests.runs.flaky_backend.FlakyBackend")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.RUN_RETRY_BASE_SECONDS = 0.0
    FlakyBackend.failures, FlakyBackend.submitted = [], []
    return FlakyBackend


@pytest.fixture
def run(make_run):
    return make_run(backend="flaky")


def test_throttling_is_retried_and_then_succeeds(flaky, run):
    flaky.failures = [BackendError("Rate exceeded"), BackendError("Rate exceeded")]
    tasks.submit_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.external_id == f"job-{run.idempotency_key}"
    assert run.attempts == 3
    assert flaky.submitted == [run.idempotency_key]


def test_a_permanent_error_fails_the_run_with_its_reason(flaky, run):
    flaky.failures = [BackendError("Access denied: missing sagemaker:CreateTrainingJob", permanent=True)]
    tasks.submit_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.status_message == "Access denied: missing sagemaker:CreateTrainingJob"
    assert run.attempts == 1 and flaky.submitted == []


def test_retries_give_up_after_the_limit(flaky, run):
    flaky.failures = [BackendError("Service unavailable")] * (tasks.MAX_SUBMIT_RETRIES + 1)
    tasks.submit_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.status_message == "Service unavailable"


def test_poll_records_logs_and_finishes(flaky, run):
    tasks.submit_run.apply(args=[str(run.pk)])
    tasks.poll_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.outputs == {"model_version": "1"}
    assert run.events.filter(kind="log", message="done").count() == 1


def test_due_runs_are_claimed_once(run):
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, external_id="job", next_poll_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.runs_claim_due() == [(str(run.pk), "poll_run")]
    assert services.runs_claim_due() == []  # leased: the next beat tick does not hand it out again


def test_a_stuck_submit_is_claimed_for_resubmission(run):
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.SUBMITTING, next_poll_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.runs_claim_due() == [(str(run.pk), "submit_run")]


def test_a_cancel_during_submission_cancels_the_new_job(flaky, run, ds, monkeypatch):
    cancelled = []
    monkeypatch.setattr(FlakyBackend, "cancel_training", lambda self, eid: cancelled.append(eid), raising=False)
    original = FlakyBackend.submit_training

    def submit_then_user_cancels(self, spec):
        external_id = original(self, spec)
        services.run_cancel(run=Run.objects.get(pk=run.pk), user=ds)
        return external_id

    monkeypatch.setattr(FlakyBackend, "submit_training", submit_then_user_cancels)
    tasks.submit_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    assert run.external_id == f"job-{run.idempotency_key}"
    assert cancelled == [run.external_id]


def test_a_backend_that_is_not_ready_is_asked_again_at_the_polling_pace(flaky, run):
    """E.g. a Neo compilation before an Inferentia deploy: not a failure, no backoff, no attempt spent."""
    flaky.failures = [NotReady("Compiling for Inferentia2")] * (tasks.MAX_SUBMIT_RETRIES + 2)
    for _ in range(tasks.MAX_SUBMIT_RETRIES + 2):  # the beat hands the run out again each time
        tasks.submit_run.apply(args=[str(run.pk)])
        run.refresh_from_db()
        assert run.status == RunStatus.SUBMITTING and run.attempts == 0
        assert run.next_poll_at <= timezone.now() + timedelta(seconds=2)
    assert run.events.filter(kind="log", message="Compiling for Inferentia2").count() == 1  # said once
    tasks.submit_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.attempts == 1


@pytest.fixture
def template_run(flaky, ds, make_template):  # noqa: F811 - the imported fixture
    from apps.runs.services import template_run_create

    template = make_template()
    return template_run_create(
        user=ds, version=template.current_version, params={"model_name": "m", "n_estimators": 5}, backend="flaky"
    )


def test_a_step_retries_transient_errors_and_waits_while_not_ready(template_run):
    FlakyBackend.failures = [BackendError("Rate exceeded"), NotReady("Preparing"), NotReady("Preparing")]
    step = template_run.steps.get()
    for attempts in (1, 1, 1):
        services.run_submit(run_id=template_run.pk)  # the submit task, then the poller
        step.refresh_from_db()
        assert (step.status, step.attempts) == ("submitting", attempts)
    messages = list(template_run.events.filter(step=step, kind__in=["log", "error"]).values_list("message", flat=True))
    assert messages == ["Train: Submit failed, will retry: Rate exceeded", "Train: Preparing"]
    services.run_submit(run_id=template_run.pk)
    step.refresh_from_db()
    assert (step.status, step.attempts, step.external_id) == ("running", 2, f"job-{step.idempotency_key}")
