"""The one run engine's rules (retry, watchdog, cancel, crashes, effects once),
driven in-process the way the worker and the beat drive it: each
``advance_run`` call is one task, as the beat hands the run out again."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.backends import registry
from apps.backends.base import BackendError, NotReady
from apps.notifications.models import Notification
from apps.runs import engine, hooks, tasks
from apps.runs.models import Run, RunEffect, RunStatus, RunStep, StepStatus
from tests.catalog.conftest import catalog_dir, make_template  # noqa: F401 - fixtures
from tests.runs.flaky_backend import FlakyBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky(monkeypatch, settings):
    monkeypatch.setitem(registry.BACKENDS, "flaky", "tests.runs.flaky_backend.FlakyBackend")
    settings.RUN_RETRY_BASE_SECONDS = 1.0
    FlakyBackend.failures, FlakyBackend.poll_failures = [], []
    FlakyBackend.submitted, FlakyBackend.cancelled = [], []
    return FlakyBackend


@pytest.fixture
def run(make_run):
    return make_run(backend="flaky")


def advance(run) -> Run:
    tasks.advance_run.apply(args=[str(run.pk)])
    run.refresh_from_db()
    return run


def test_throttling_backs_off_with_jitter_and_then_succeeds(flaky, run):
    flaky.failures = [BackendError("Rate exceeded"), BackendError("Rate exceeded")]
    before = timezone.now()
    assert advance(run).status == RunStatus.SUBMITTING
    # one retry policy: the base (1 s here), jittered ±20 %, not the polling pace
    assert before + timedelta(seconds=0.7) < run.next_poll_at < timezone.now() + timedelta(seconds=1.3)
    advance(run)
    assert advance(run).status == RunStatus.RUNNING
    assert run.external_id == f"job-{run.idempotency_key}" and run.attempts == 3
    assert flaky.submitted == [run.idempotency_key]
    errors = run.events.filter(kind="error").values_list("message", flat=True)
    assert list(errors) == ["Training: Submit failed, will retry: Rate exceeded"] * 2


def test_a_permanent_error_fails_the_run_with_its_reason(flaky, run):
    flaky.failures = [BackendError("Access denied: missing sagemaker:CreateTrainingJob", permanent=True)]
    advance(run)
    assert run.status == RunStatus.FAILED
    assert run.status_message == "Access denied: missing sagemaker:CreateTrainingJob"
    assert run.attempts == 1 and flaky.submitted == []


def test_transient_errors_give_up_after_the_attempt_limit(flaky, run, settings):
    settings.RUN_MAX_ATTEMPTS = 3
    flaky.failures = [BackendError("Service unavailable")] * 5
    for _ in range(3):
        advance(run)
    assert run.status == RunStatus.FAILED and run.status_message == "Service unavailable"
    assert run.attempts == 3


@pytest.mark.parametrize("verb", ["submit", "poll"])
def test_an_adapter_bug_fails_the_step_readably_at_once(flaky, run, verb, caplog):
    """Not retried for ever: the step fails on the pass that met the bug, the attempt
    counts, and the traceback goes to the worker's log, not to the page."""
    bug = KeyError("TrainingJobStatus")
    (flaky.failures if verb == "submit" else flaky.poll_failures).append(bug)
    with caplog.at_level(logging.ERROR, logger="apps.runs.engine"):
        advance(run)
        if verb == "poll":
            assert run.status == RunStatus.RUNNING
            advance(run)  # the next poll meets the bug
    assert run.status == RunStatus.FAILED
    assert run.status_message == (
        f"Atrium could not {verb} this step: an internal error (KeyError). The details are in the worker's log."
    )
    assert run.attempts == 1 and run.next_poll_at is None
    assert "Traceback" in caplog.text and "TrainingJobStatus" in caplog.text
    assert "Traceback" not in "".join(run.events.values_list("message", flat=True))


def test_a_bug_in_the_engine_itself_fails_the_step_at_the_task_boundary(flaky, run, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(engine, "_step_start", broken)
    with caplog.at_level(logging.ERROR):
        advance(run)
    assert run.status == RunStatus.FAILED
    assert "internal error (ZeroDivisionError)" in run.status_message
    assert "ZeroDivisionError" in caplog.text


def test_a_worker_dying_mid_submit_spends_an_attempt_and_the_watchdog_gives_up(flaky, run, settings):
    """The watchdog resubmits a step left in submitting; each try counts, so a
    submit that kills its worker every time ends, failed, instead of looping."""
    settings.RUN_MAX_ATTEMPTS = 2
    RunStep.objects.filter(run=run).update(status="submitting", attempts=2)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUBMITTING)
    advance(run)
    assert run.status == RunStatus.FAILED
    assert run.status_message.startswith("Gave up after 2 attempts")
    assert flaky.submitted == []


def test_poll_records_logs_and_the_typed_results(flaky, run):
    advance(run)
    advance(run)
    assert run.status == RunStatus.SUCCEEDED
    step = run.steps.get()
    assert (step.model_name, step.model_version, step.metrics) == ("flaky-model", "1", {"accuracy": 0.9})
    assert step.outputs == {"job": f"job-{run.idempotency_key}"}
    # the run's outputs, as the API has always shown them: extras and the typed fields
    assert run.outputs == {
        "job": f"job-{run.idempotency_key}",
        "model_name": "flaky-model",
        "model_version": "1",
        "metrics": {"accuracy": 0.9},
    }
    assert run.events.filter(kind="log", message="done").count() == 1
    moves = list(run.events.filter(kind="transition", step=None).values_list("to_status", flat=True))
    assert moves == ["submitting", "running", "succeeded"]


def test_a_finish_redelivered_notifies_once_and_links_once(flaky, run):
    advance(run)
    advance(run)
    assert run.status == RunStatus.SUCCEEDED
    # the task comes again (a lost ack), and a sweep finds the run flagged again
    advance(run)
    Run.objects.filter(pk=run.pk).update(effects_pending=True)
    hooks.effects_apply(run_id=run.pk)
    hooks.effects_apply(run_id=run.pk)
    assert Notification.objects.filter(run=run).count() == 1
    from apps.registry.models import ModelVersion

    version = ModelVersion.objects.get(model__name="flaky-model")
    assert version.run_id == run.pk and version.metrics == {"accuracy": 0.9}
    keys = RunEffect.objects.filter(run=run).values_list("key", flat=True)
    assert {k for k in keys if k.startswith(("notify:", "registry."))} == {  # each once; other apps' too
        f"notify:{run.pk}",
        f"registry.link_version:{run.steps.get().pk}",
    }


def test_effects_a_dead_worker_left_are_swept(flaky, run):
    advance(run)
    advance(run)
    Notification.objects.all().delete()
    RunEffect.objects.all().delete()
    Run.objects.filter(pk=run.pk).update(effects_pending=True, updated_at=timezone.now() - timedelta(minutes=5))
    assert hooks.effects_sweep_due() == [str(run.pk)]
    tasks.apply_effects.apply(args=[str(run.pk)])
    assert Notification.objects.filter(run=run).count() == 1
    assert hooks.effects_sweep_due() == []


def test_a_worker_dying_midway_through_the_effects_leaves_them_to_the_sweep(flaky, run, monkeypatch):
    """The worker dies after one effect (the notification) and before the next: the
    run stays flagged, so the sweep applies what is left, and nothing twice."""

    class WorkerDied(BaseException):  # not an Exception: nothing in the worker catches it
        pass

    def die(target):
        raise WorkerDied

    effects = {"notify": hooks._effects["notify"], "dies": hooks.Effect("dies", "run", frozenset({"succeeded"}), die)}
    monkeypatch.setattr(hooks, "_effects", {**effects, **hooks._effects})
    advance(run)
    with pytest.raises(WorkerDied):
        advance(run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.effects_pending
    monkeypatch.setitem(hooks._effects, "dies", hooks.Effect("dies", "run", frozenset({"succeeded"}), lambda t: None))
    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert hooks.effects_sweep_due() == [str(run.pk)]
    tasks.apply_effects.apply(args=[str(run.pk)])
    assert Notification.objects.filter(run=run).count() == 1
    assert RunEffect.objects.filter(run=run, key=f"dies:{run.pk}").exists()
    assert hooks.effects_sweep_due() == []
    run.refresh_from_db()
    assert not run.effects_pending


def test_a_database_error_does_not_fail_the_step_and_the_beat_hands_the_run_back(flaky, run, monkeypatch):
    """A deadlock or a dropped connection midway is the database's, not the step's:
    the step is not failed, and the run is handed out again once its lease ends."""
    from django.db import OperationalError

    def deadlock(*, run_id):
        raise OperationalError("deadlock detected")

    Run.objects.filter(pk=run.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    assert engine.runs_claim_due() == [str(run.pk)]
    with monkeypatch.context() as patch:
        patch.setattr(engine, "run_advance", deadlock)
        advance(run)
    assert run.status == RunStatus.PENDING and run.steps.get().status == StepStatus.PENDING
    Run.objects.filter(pk=run.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))  # the lease ended
    assert engine.runs_claim_due() == [str(run.pk)]
    assert advance(run).status == RunStatus.RUNNING


def test_due_runs_are_claimed_once(run):
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, external_id="job", next_poll_at=timezone.now() - timedelta(seconds=1)
    )
    assert engine.runs_claim_due() == [str(run.pk)]
    assert engine.runs_claim_due() == []  # leased: the next beat tick does not hand it out again


def test_a_run_whose_submit_task_was_lost_is_started_by_the_beat(flaky, ds):
    from apps.runs.services import run_create

    run = run_create(user=ds, kind="train", params={**_params(), "model_name": "lost"}, backend="flaky")
    Run.objects.filter(pk=run.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    assert engine.runs_claim_due() == [str(run.pk)]


def _params():
    return {"dataset": "iris", "algorithm": "logistic_regression"}


def test_a_cancel_during_submission_cancels_the_new_job(flaky, run, ds, monkeypatch):
    from apps.runs.services import run_cancel

    original = FlakyBackend.submit_training

    def submit_then_user_cancels(self, spec):
        external_id = original(self, spec)
        run_cancel(run=Run.objects.get(pk=run.pk), user=ds)
        return external_id

    monkeypatch.setattr(FlakyBackend, "submit_training", submit_then_user_cancels)
    advance(run)  # submits; the cancel's own task comes next
    advance(run)
    assert run.external_id == f"job-{run.idempotency_key}"
    assert flaky.cancelled == [run.external_id]


def test_a_backend_that_is_not_ready_is_asked_again_at_the_polling_pace(flaky, run, settings):
    """E.g. a Neo compilation before an Inferentia deploy: not a failure, no backoff, no attempt spent."""
    flaky.failures = [NotReady("Compiling for Inferentia2")] * (settings.RUN_MAX_ATTEMPTS + 2)
    for _ in range(settings.RUN_MAX_ATTEMPTS + 2):  # the beat hands the run out again each time
        advance(run)
        assert run.status == RunStatus.SUBMITTING and run.attempts == 0
        assert run.next_poll_at <= timezone.now() + timedelta(seconds=settings.RUN_POLL_SECONDS)
    assert run.events.filter(kind="log", message="Training: Compiling for Inferentia2").count() == 1  # said once
    advance(run)
    assert run.status in {RunStatus.RUNNING, RunStatus.SUCCEEDED} and run.attempts == 1


def test_a_poll_the_backend_is_not_ready_for_is_asked_again_at_the_polling_pace(flaky, run, settings):
    """E.g. an endpoint still applying its last change: the step waits, it does not back off or fail."""
    advance(run)
    flaky.poll_failures = [NotReady("Endpoint ep is Updating")] * 3
    for _ in range(3):
        advance(run)
        assert run.status == RunStatus.RUNNING
        assert run.next_poll_at <= timezone.now() + timedelta(seconds=settings.RUN_POLL_SECONDS)
    assert run.events.filter(kind="log", message="Training: Endpoint ep is Updating").count() == 1  # said once
    assert not run.events.filter(kind="error").exists()
    assert advance(run).status == RunStatus.SUCCEEDED


@pytest.fixture
def template_run(flaky, ds, make_template):  # noqa: F811 - the imported fixture
    from apps.runs.services import template_run_create

    template = make_template()
    return template_run_create(
        user=ds, version=template.current_version, params={"model_name": "m", "n_estimators": 5}, backend="flaky"
    )


def test_a_template_step_follows_the_same_retry_rules(template_run):
    FlakyBackend.failures = [BackendError("Rate exceeded"), NotReady("Preparing"), NotReady("Preparing")]
    step = template_run.steps.get()
    for attempts in (1, 1, 1):
        advance(template_run)
        step.refresh_from_db()
        assert (step.status, step.attempts) == ("submitting", attempts)
    messages = list(template_run.events.filter(step=step, kind__in=["log", "error"]).values_list("message", flat=True))
    assert messages == ["Train: Submit failed, will retry: Rate exceeded", "Train: Preparing"]
    advance(template_run)
    step.refresh_from_db()
    assert (step.status, step.attempts, step.external_id) == ("running", 2, f"job-{step.idempotency_key}")
    assert template_run.external_id == ""  # no sentinel: a template run is a plan like any other


def test_a_backend_without_the_capability_fails_the_step_with_a_clear_reason(flaky, ds, monkeypatch):
    """Capabilities, not one giant protocol: the flaky backend has jobs but no endpoints."""
    from apps.runs.services import run_create

    monkeypatch.setattr("apps.backends.registry.deploy_targets", lambda kind: ("cpu",))
    variants = [{"name": "a", "model_name": "m", "model_version": "1", "instance_type": "x"}]
    run = run_create(user=ds, kind="deploy", params={"endpoint": "ep-1", "variants": variants}, backend="flaky")
    advance(run)
    assert run.status == RunStatus.FAILED
    assert run.status_message == "The flaky backend has no endpoints."


def test_what_a_run_creates_is_tagged_for_its_bill(make_run, team):
    from apps.runs.operations.base import run_tags

    training = make_run()
    assert run_tags(training) == {"team": team.slug, "run": str(training.pk), "project": "default", "model": "iris-lr"}
    rollout = make_run(params={"endpoint": "scoring", "project": "churn", "model_name": "churn-gbm"})
    step = {"endpoint": "scoring", "variants": [{"name": "churn-gbm-v2"}]}  # a deploy step's own params
    # an endpoint's bill comes back under its own name and its model (apps/costs attributes them by these tags)
    assert run_tags(rollout, step) == {
        "team": team.slug,
        "run": str(rollout.pk),
        "project": "churn",
        "model": "churn-gbm",
        "endpoint": "scoring",
    }
