"""What the fault drills share: a Celery worker of the drill's own that can be
killed and started again, and a Redis server of its own that can be stopped
and started again on the same port (the session's worker and broker, and the
machine's Redis, are left alone: other tests use them in parallel)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, free_port, skip_or_fail, wait_until


class Worker:
    """A Celery worker subprocess (``--concurrency=2``, no beat) with the environment ``env``."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir, self.process, self.starts = env, log_dir, None, 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"worker-{self.starts}.log"

    def start(self):
        self.starts += 1
        log_path = self.log_path
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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its pool; the jobs have their own sessions
        self.process.wait(timeout=10)

    def kill_pool_process(self, choose) -> int:
        """SIGKILL one of the worker's pool processes (``choose`` picks it from their
        pids): the task it ran is lost mid-way, and Celery starts another process."""
        import psutil

        def pool():  # none for a moment after a kill, until Celery has forked another
            return sorted(child.pid for child in psutil.Process(self.process.pid).children())

        pid = choose(wait_until(pool, 30, 0.05, message="a pool process"))
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self):
        if self.alive():
            self.kill()  # nothing to finish gracefully: the runs have all ended


class RedisServer:
    """``redis-server`` on a free port of this machine, nothing kept on disk:
    a restart loses every message, as a broker that died without persistence would."""

    def __init__(self, log_dir: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            skip_or_fail("needs redis-server on the PATH (the broker-restarted drill runs a Redis of its own)")
        self.port, self.log_dir, self.process, self.starts = free_port(), log_dir, None, 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        import redis

        self.starts += 1
        with open(self.log_dir / f"redis-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                cwd=self.log_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def answers():
            try:
                return client.ping()
            except redis.RedisError:
                assert self.process.poll() is None, (self.log_dir / f"redis-{self.starts}.log").read_text()
                return False

        wait_until(answers, 30, 0.1, message="redis-server")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis shuts down (and saves nothing: --save "")
            self.process.wait(timeout=15)


@contextmanager
def publishing_to(broker_url: str):
    """This test process sends its tasks (``run_create``'s enqueue, the beat ticks)
    to ``broker_url`` while inside, then to the session's broker again."""
    from portal.celery import app

    def switch(url: str, environ: str | None):
        # Drop the app's pool, never close it: kombu keeps pools per broker URL for the
        # whole process, and a closed one would be handed back to every later test.
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = url
        if environ is None:  # Celery reads CELERY_BROKER_URL from the environment before its settings
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = environ

    before, environ = app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
    switch(broker_url, broker_url)
    try:
        yield
    finally:
        switch(before, environ)


def assert_one_of_everything(runs, mlflow_server: str) -> None:
    """Every training run made exactly one model version (in MLflow and in the
    portal) and its owner got exactly one notification: nothing duplicated."""
    from mlflow import MlflowClient

    from apps.notifications.models import Notification
    from apps.registry.models import ModelVersion
    from tests.conftest import wait_until

    client = MlflowClient(mlflow_server)
    for run in runs:
        name = run.params["model_name"]
        assert len(client.search_model_versions(f"name = '{name}'")) == 1, name
        assert ModelVersion.objects.filter(model__name=name).count() == 1, name
        wait_until(lambda r=run: Notification.objects.filter(run=r).exists(), 60, message="the notification")
        assert Notification.objects.filter(run=run).count() == 1, name
