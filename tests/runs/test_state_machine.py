import threading

import pytest
from django.db import connection

from apps.runs.models import Run, RunEvent, RunStatus
from apps.runs.transitions import InvalidTransition, run_transition


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (RunStatus.PENDING, RunStatus.RUNNING),
        (RunStatus.PENDING, RunStatus.SUCCEEDED),
        (RunStatus.RUNNING, RunStatus.PENDING),
        (RunStatus.RUNNING, RunStatus.CANCELLED),
        (RunStatus.SUCCEEDED, RunStatus.RUNNING),
        (RunStatus.FAILED, RunStatus.SUBMITTING),
        (RunStatus.CANCELLED, RunStatus.PENDING),
        (RunStatus.CANCELLING, RunStatus.RUNNING),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(make_run, start, to):
    run = make_run(start)
    with pytest.raises(InvalidTransition):
        run_transition(run=run, to=to)
    run.refresh_from_db()
    assert run.status == start
    assert not run.events.exists()


def test_the_documented_lifecycle_is_allowed_and_recorded(make_run):
    run = make_run()
    for to in [RunStatus.SUBMITTING, RunStatus.RUNNING, RunStatus.CANCELLING, RunStatus.CANCELLED]:
        assert run_transition(run=run, to=to, message=f"to {to}")
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.started_at is not None and run.finished_at is not None
    moves = list(run.events.values_list("from_status", "to_status"))
    assert moves == [
        ("pending", "submitting"),
        ("submitting", "running"),
        ("running", "cancelling"),
        ("cancelling", "cancelled"),
    ]


def test_success_sets_full_progress_and_stops_polling(make_run):
    run = make_run(RunStatus.RUNNING)
    Run.objects.filter(pk=run.pk).update(next_poll_at="2030-01-01T00:00:00Z", progress=40)
    assert run_transition(run=run, to=RunStatus.SUCCEEDED, outputs={"model_version": "3"})
    run.refresh_from_db()
    assert (run.progress, run.next_poll_at, run.outputs) == (100.0, None, {"model_version": "3"})


def test_a_stale_copy_loses_the_compare_and_swap(make_run):
    run = make_run()
    stale = Run.objects.get(pk=run.pk)
    assert run_transition(run=run, to=RunStatus.SUBMITTING)
    assert run_transition(run=stale, to=RunStatus.SUBMITTING) is False
    assert RunEvent.objects.filter(run=run, to_status=RunStatus.SUBMITTING).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_exactly_one_wins(on_postgres, make_run):
    run = make_run()
    barrier = threading.Barrier(8)
    results = []

    def worker():
        copy = Run.objects.get(pk=run.pk)
        barrier.wait()
        try:
            results.append(run_transition(run=copy, to=RunStatus.SUBMITTING))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert RunEvent.objects.filter(run=run, to_status=RunStatus.SUBMITTING).count() == 1
