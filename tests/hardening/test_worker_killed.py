"""The worker-killed drill (issue 15): six real (tiny) trainings through a
real Celery worker that is killed with SIGKILL five times at points drawn
from a seeded schedule, and restarted each time. Expected: every run ends
succeeded (0 lost), one MLflow model version per run and one in the portal
(0 duplicates), one notification per run (0 duplicates).

The worker here is this test's own (the session's is left alone); the test
is its beat while it waits. The submit watchdog and poll lease are shortened
for the drill (both sides read them from the environment)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import ROOT, wait_until, worker_database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RUNS = 6
KILLS = 5
SEED = 15
DRILL_ENV = {"ATRIUM_SUBMIT_WATCHDOG_SECONDS": "4", "ATRIUM_POLL_LEASE_SECONDS": "4"}


class Worker:
    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir, self.process, self.starts = env, log_dir, None, 0

    def start(self):
        self.starts += 1
        log_path = self.log_dir / f"worker-{self.starts}.log"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "celery"),
                    "-A",
                    "portal",
                    "worker",
                    "--loglevel=INFO",
                    "--concurrency=2",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: b"ready" in log_path.read_bytes() or self.process.poll() is not None, 60, message="worker")
        assert self.process.poll() is None, log_path.read_text()[-3000:]

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its pool; the jobs have their own sessions
        self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.kill()  # nothing to finish gracefully: the runs have all ended


@pytest.fixture
def worker(django_db_blocker, mlflow_server, tmp_path, settings):
    for name, value in DRILL_ENV.items():
        setattr(settings, name.replace("ATRIUM_", "RUN_"), float(value))
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    env = {**os.environ, **DRILL_ENV, "DATABASE_URL": database_url, "MLFLOW_TRACKING_URI": mlflow_server}
    drill = Worker(env, tmp_path)
    drill.start()
    conftest._beat["on"] = True
    yield drill
    conftest._beat["on"] = False
    drill.stop()


def test_killing_the_worker_loses_and_duplicates_nothing(worker, mlflow_server, api, settings):
    from mlflow import MlflowClient

    from apps.notifications.models import Notification
    from apps.registry.models import ModelVersion
    from apps.runs.models import Run, RunStatus

    settings.MLFLOW_TRACKING_URI = mlflow_server
    schedule = random.Random(SEED)
    algorithms = ["logistic_regression", "knn", "decision_tree"]
    suffix = os.urandom(3).hex()
    names = [f"drill-{suffix}-{i}" for i in range(RUNS)]
    for i, name in enumerate(names):
        params = {"dataset": "iris", "algorithm": algorithms[i % 3], "model_name": name}
        response = api.post("/api/v1/runs/", {"kind": "train", "params": params}, format="json")
        assert response.status_code == 201, response.content
    runs = Run.objects.filter(params__model_name__in=names)
    kills = []
    for _ in range(KILLS):
        pause = schedule.uniform(1.0, 5.0)
        end = time.monotonic() + pause
        while time.monotonic() < end:
            conftest.beat_tick()
            time.sleep(0.2)
        kills.append(dict(runs.values_list("params__model_name", "status")))
        worker.kill()
        worker.start()

    def all_ended():
        return all(status in {"succeeded", "failed", "cancelled"} for status in runs.values_list("status", flat=True))

    wait_until(all_ended, 150, 0.5, message="every run to end after the kills")
    states = {run.name: (run.status, run.status_message) for run in runs}
    assert runs.count() == RUNS and all(s == RunStatus.SUCCEEDED for s, _ in states.values()), states
    client = MlflowClient(mlflow_server)
    for run in runs:
        name = run.params["model_name"]
        assert len(client.search_model_versions(f"name = '{name}'")) == 1, name
        assert ModelVersion.objects.filter(model__name=name).count() == 1, name
        wait_until(lambda r=run: Notification.objects.filter(run=r).exists(), 30, message="the notification")
        assert Notification.objects.filter(run=run).count() == 1, name
    attempts = sorted(runs.values_list("attempts", flat=True))
    print(
        f"worker drill: {RUNS} runs, {KILLS} kills ({worker.starts} worker starts), 0 lost, 0 duplicated; "
        f"attempts {attempts}; statuses at each kill: {[sorted(k.values()) for k in kills]}"
    )
