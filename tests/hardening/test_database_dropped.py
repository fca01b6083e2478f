"""The database-connection-dropped drill (issue 15), on PostgreSQL: real (tiny)
trainings through a real Celery worker whose database connections are
terminated on the server (``pg_terminate_backend``) four times while a run is
being polled: each time the worker holds a connection, that is, in the middle
of a task. The worker's connections are picked by their own
``application_name`` (set in its DATABASE_URL): the test's are never touched.

Expected: every run ends succeeded with one model version and one notification
(0 lost, 0 duplicated): a task that loses its connection is the database's
failure, not the step's, and the beat hands the run back to a worker, which
opens a new connection (Celery closes them around every task)."""

from __future__ import annotations

import os

import pytest

from tests import conftest
from tests.conftest import wait_until, worker_database_url
from tests.hardening.drills import Worker, assert_one_of_everything

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DROPS = 4
DRILL_ENV = {"ATRIUM_SUBMIT_WATCHDOG_SECONDS": "4", "ATRIUM_POLL_LEASE_SECONDS": "4"}
APPLICATION = f"atrium-drill-{os.getpid()}"


def terminate_worker_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()) AS t "
            "WHERE gone",
            [APPLICATION],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def worker(on_postgres, django_db_blocker, mlflow_server, tmp_path, settings):
    for name, value in DRILL_ENV.items():
        setattr(settings, name.replace("ATRIUM_", "RUN_"), float(value))
    with django_db_blocker.unblock():
        database_url = f"{worker_database_url()}?application_name={APPLICATION}"
    env = {**os.environ, **DRILL_ENV, "DATABASE_URL": database_url, "MLFLOW_TRACKING_URI": mlflow_server}
    drill = Worker(env, tmp_path)
    drill.start()
    conftest._beat["on"] = True
    yield drill
    conftest._beat["on"] = False
    drill.stop()


def test_dropping_the_workers_database_connections_loses_no_run(worker, mlflow_server, api, settings):

    from apps.runs.models import Run, RunStatus

    settings.MLFLOW_TRACKING_URI = mlflow_server
    suffix = os.urandom(3).hex()
    names = [f"dbdrop-{suffix}-{i}" for i in range(2)]
    for name, algorithm in zip(names, ["logistic_regression", "knn"], strict=True):
        params = {"dataset": "iris", "algorithm": algorithm, "model_name": name}
        response = api.post("/api/v1/runs/", {"kind": "train", "params": params}, format="json")
        assert response.status_code == 201, response.content
    runs = Run.objects.filter(params__model_name__in=names)
    dropped, at_drops = [], []
    for _ in range(DROPS):

        def polled_and_dropped():  # a connection of the worker while a run is being polled
            return runs.filter(status=RunStatus.RUNNING).exists() and terminate_worker_connections()

        dropped.append(wait_until(polled_and_dropped, 90, 0.02, message="a worker connection to drop mid-poll"))
        at_drops.append(sorted(runs.values_list("status", flat=True)))

    def all_ended():
        return all(status in {"succeeded", "failed", "cancelled"} for status in runs.values_list("status", flat=True))

    wait_until(all_ended, 150, 0.5, message="every run to end after the dropped connections")
    states = {run.name: (run.status, run.status_message) for run in runs}
    assert all(s == RunStatus.SUCCEEDED for s, _ in states.values()), states
    assert_one_of_everything(runs, mlflow_server)
    print(
        f"database drill: {len(names)} runs, {DROPS} drops ({sum(dropped)} worker connections terminated), "
        f"0 lost, 0 duplicated; attempts {sorted(runs.values_list('attempts', flat=True))}; "
        f"statuses at each drop: {at_drops}"
    )
