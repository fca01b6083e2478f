"""Admission control on the local backend (issue 15, item 11): at most
ATRIUM_LOCAL_MAX_JOBS jobs at a time; the others wait ("Queued: n ahead") in
order of submission, round robin across teams; an ended job frees its slot.
The jobs are ``fake_job``: real subprocesses of the real backend that take no CPU."""

import pytest

from apps.backends.base import JobState, NotReady, TrainingSpec
from apps.backends.local.backend import LocalBackend
from tests.conftest import wait_until

FAKE = "tests.hardening.fake_job"


@pytest.fixture
def fake_jobs(monkeypatch):
    monkeypatch.setattr(LocalBackend, "submit_training", lambda self, spec: self._submit(spec, module=FAKE))


def spec(key: str, team: str = "alpha") -> TrainingSpec:
    return TrainingSpec(
        key=key, model_name="m", dataset="iris", algorithm="knn", task="classification", tags={"team": team}
    )


def submit(backend, key, team="alpha") -> str:
    """ "started" or the NotReady message."""
    try:
        backend.submit_training(spec(key, team))
    except NotReady as waiting:
        return waiting.message
    return "started"


def finish(backend, key):
    (backend.jobs_dir / key / "release").touch()
    wait_until(lambda: backend.poll_training(key).state is JobState.SUCCEEDED, 30, message=f"{key} to end")


@pytest.fixture
def backend(tmp_path, fake_jobs):
    return LocalBackend(jobs_dir=tmp_path / "jobs", tracking_uri="", data_root=tmp_path, max_jobs=2)


def test_at_most_n_jobs_run_and_the_rest_wait_in_order(backend):
    assert [submit(backend, k) for k in ("a", "b", "c", "d")] == [
        "started",
        "started",
        "Queued: 1 ahead",
        "Queued: 2 ahead",
    ]
    assert submit(backend, "d") == "Queued: 2 ahead"  # asking again keeps its place
    assert submit(backend, "a") == "started"  # a running job's submit is idempotent, no new slot
    finish(backend, "a")
    assert submit(backend, "d") == "Queued: 1 ahead"  # not d's turn: c was first
    assert submit(backend, "c") == "started"
    backend.cancel_training("b")  # a cancelled job frees its slot too
    assert submit(backend, "d") == "started"
    for key in ("c", "d"):
        finish(backend, key)


def test_turns_go_round_robin_across_teams(backend):
    backend.max_jobs = 1
    assert submit(backend, "a1", "alpha") == "started"
    assert submit(backend, "a2", "alpha") == "Queued: 1 ahead"
    assert submit(backend, "a3", "alpha") == "Queued: 2 ahead"
    assert submit(backend, "b1", "beta") == "Queued: 1 ahead"  # beta had no turn yet: before alpha's second
    finish(backend, "a1")
    assert submit(backend, "a2", "alpha") == "Queued: 1 ahead"
    assert submit(backend, "b1", "beta") == "started"
    finish(backend, "b1")
    assert submit(backend, "a2", "alpha") == "started"
    finish(backend, "a2")


def test_a_job_that_reported_its_end_frees_its_slot_before_its_process_exits(backend):
    from apps.backends.local import processes

    backend.max_jobs = 1
    assert submit(backend, "x") == "started"
    processes.write_json(backend.jobs_dir / "x" / "status.json", {"state": "succeeded"})  # still exiting
    assert submit(backend, "y") == "started"
    for key in ("x", "y"):
        finish(backend, key)


def test_a_dead_job_frees_its_slot(backend):
    from apps.backends.local import processes

    backend.max_jobs = 1
    assert submit(backend, "x") == "started"
    assert submit(backend, "y") == "Queued: 1 ahead"
    processes.stop(processes.find(backend.jobs_dir / "x"), grace=1)  # killed outside the portal
    assert submit(backend, "y") == "started"
    finish(backend, "y")


@pytest.mark.django_db
def test_with_one_slot_the_second_run_waits_then_runs(settings, fake_jobs, ds, train_params, tmp_path):
    """Through the run engine: the second run says it is queued (once in its log,
    no attempt spent), then starts when the first ends."""
    from apps.runs import engine
    from apps.runs.models import RunEvent, RunStatus
    from apps.runs.services import run_create

    settings.LOCAL_MAX_JOBS = 1
    settings.LOCAL_JOBS_DIR = tmp_path / "jobs"
    first, second = (run_create(user=ds, kind="train", params=train_params) for _ in range(2))
    engine.run_advance(run_id=first.pk)
    for _ in range(2):
        engine.run_advance(run_id=second.pk)
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == RunStatus.RUNNING
    assert second.status == RunStatus.SUBMITTING and second.attempts == 0
    queued = list(second.events.filter(kind=RunEvent.Kind.LOG).values_list("message", flat=True))
    assert queued == ["Training: Queued: 1 ahead"]
    (settings.LOCAL_JOBS_DIR / first.idempotency_key / "release").touch()

    def ended():
        engine.run_advance(run_id=first.pk)
        first.refresh_from_db()
        return first.status == RunStatus.SUCCEEDED

    wait_until(ended, 30, message="the first run to end")
    engine.run_advance(run_id=second.pk)
    second.refresh_from_db()
    assert second.status == RunStatus.RUNNING and second.attempts == 1
    (settings.LOCAL_JOBS_DIR / second.idempotency_key / "release").touch()


def test_a_withdrawn_job_never_starts_and_those_behind_it_move_up(backend):
    backend.max_jobs = 1
    assert submit(backend, "a") == "started"
    assert [submit(backend, k) for k in ("b", "c")] == ["Queued: 1 ahead", "Queued: 2 ahead"]
    assert backend.withdraw_job("b") is True
    assert submit(backend, "c") == "Queued: 1 ahead"  # b no longer ahead of it
    assert backend.withdraw_job("a") is False  # started: it is cancelled as a running job
    finish(backend, "a")
    assert submit(backend, "b") == "started"  # a redelivered submit of b starts nothing...
    assert not (backend.jobs_dir / "b" / "pid").exists()
    assert backend.poll_training("b").state is JobState.CANCELLED
    assert submit(backend, "c") == "started"  # ...and takes no slot
    finish(backend, "c")


@pytest.mark.django_db
def test_a_queued_run_cancelled_ends_cancelled_at_once(settings, fake_jobs, ds, train_params, tmp_path):
    """A run waiting for its turn ends cancelled as soon as its cancel is handled,
    not once its turn comes; its job never starts, and the run behind it moves up."""
    from apps.runs import engine
    from apps.runs.models import RunStatus, StepStatus
    from apps.runs.services import run_cancel, run_create

    settings.LOCAL_MAX_JOBS = 1
    settings.LOCAL_JOBS_DIR = tmp_path / "jobs"
    first, second, third = (run_create(user=ds, kind="train", params=train_params) for _ in range(3))
    for run in (first, second, third):
        engine.run_advance(run_id=run.pk)
    second.refresh_from_db()
    assert second.status == RunStatus.SUBMITTING  # queued behind the first
    assert run_cancel(run=second, user=ds).status == RunStatus.CANCELLING
    engine.run_advance(run_id=second.pk)  # what the task the cancel enqueued does
    second.refresh_from_db()
    assert second.status == RunStatus.CANCELLED, second.status_message
    assert second.steps.get().status == StepStatus.CANCELLED
    assert not (settings.LOCAL_JOBS_DIR / second.idempotency_key / "pid").exists()
    assert [e.message for e in third.events.filter(kind="log")] == ["Training: Queued: 2 ahead"]
    (settings.LOCAL_JOBS_DIR / first.idempotency_key / "release").touch()

    def started():
        for run in (first, third):
            engine.run_advance(run_id=run.pk)
            run.refresh_from_db()
        return first.status == RunStatus.SUCCEEDED and third.status == RunStatus.RUNNING

    wait_until(started, 30, message="the first run to end and the third to start")
    engine.run_advance(run_id=second.pk)  # a late poll of the cancelled run starts nothing
    assert not (settings.LOCAL_JOBS_DIR / second.idempotency_key / "pid").exists()
    (settings.LOCAL_JOBS_DIR / third.idempotency_key / "release").touch()
