"""Shared fixtures. Real parts wherever one runs here: the database and broker
named by DATABASE_URL / CELERY_BROKER_URL (PostgreSQL and Redis in CI), a real
MLflow server, a real Celery worker in a subprocess (the tests are its beat)."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.environment import TEST_ROOT, TEST_VAR

ROOT = Path(__file__).resolve().parent.parent


REQUIRE_ALL = os.environ.get("ATRIUM_REQUIRE_ALL") == "1"  # CI: a skip is a failure


def skip_or_fail(reason: str):
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (ATRIUM_REQUIRE_ALL=1: CI must run this test)")
    pytest.skip(reason)


@pytest.fixture
def on_postgres(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL")


# --- people -----------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Passwords hashed with one cheap round in tests, as Django's testing docs advise: the
    production hasher (PBKDF2, a million rounds) costs about 0.25 s of CPU per user made or
    logged in, minutes over the suite. What is tested is that passwords are checked, not
    PBKDF2; the hardening tests that start the portal as a server hash as production does."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def team(db):
    from apps.accounts.services import team_get_or_create

    return team_get_or_create(name="Alpha")


@pytest.fixture
def other_team(db):
    from apps.accounts.services import team_get_or_create

    return team_get_or_create(name="Beta")


@pytest.fixture
def make_user(db, team):
    from apps.accounts.models import Role
    from apps.accounts.services import user_create

    def make(username=None, role=Role.DATA_SCIENTIST, teams=None):
        return user_create(
            username=username or f"u{uuid.uuid4().hex[:8]}",
            password="pw-Secret-123",
            role=role,
            teams=[team] if teams is None else teams,
        )

    return make


@pytest.fixture
def ds(make_user):
    return make_user("ds")


@pytest.fixture
def ds_client(client, ds):
    client.force_login(ds)
    return client


@pytest.fixture
def api(ds):
    from rest_framework.test import APIClient

    from apps.accounts.services import api_token_create

    _, key = api_token_create(user=ds)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


TRAIN_PARAMS = {
    "dataset": "iris",
    "algorithm": "logistic_regression",
    "hyperparameters": {"max_iter": 200},
    "model_name": "iris-lr",
}


@pytest.fixture
def train_params():
    return {**TRAIN_PARAMS, "hyperparameters": dict(TRAIN_PARAMS["hyperparameters"])}


@pytest.fixture
def make_run(ds, team, train_params):
    """A training run and its one step as the engine would have them, without
    the engine (no task is sent)."""
    from apps.runs.models import Run, RunStatus, RunStep

    def make(status=RunStatus.PENDING, *, user=None, team_=None, backend="local", step=None, **fields):
        """``step``: fields of the run's one step (e.g. the model_name / model_version it registered)."""
        run_id = uuid.uuid4()
        fields.setdefault("params", train_params)
        run = Run.objects.create(
            id=run_id,
            team=team_ or team,
            created_by=user or ds,
            kind="train",
            backend=backend,
            status=status,
            idempotency_key=f"atr-{run_id.hex}",
            **fields,
        )
        RunStep.objects.create(
            run=run,
            position=0,
            key="train",
            name="Training",
            action="train",
            params=run.params,
            status=status,
            external_id=run.external_id,
            idempotency_key=run.idempotency_key,
            **(step or {}),
        )
        return run

    return make


# Webhook URLs on the portal's own network, and why each is refused (apps/notifications/destinations.py).
LOCAL_WEBHOOK_URLS = [
    ("http://127.0.0.1/hooks", "127.0.0.1 is a loopback address"),
    ("http://localhost:8080/hooks", "localhost resolves to 127.0.0.1, a loopback address"),
    ("https://10.0.0.1/hooks", "10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[::1]/hooks", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/hooks", "::ffff:127.0.0.1 is a loopback address"),
]


@pytest.fixture
def webhook_receiver(settings):
    """A real HTTP server on a free port that keeps what it is posted: (its URL, [(headers, body)]).
    It answers 204, or the statuses a test puts in ``received.answers``, one a post, in turn
    (``[500, 500]``: a failing receiver twice, then 204 again). It listens on 127.0.0.1, so
    webhooks to the local network are allowed while it is in use (the rest of the suite keeps
    the production default: refused)."""
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Received(list):
        answers: list[int]

    received = Received()
    received.answers = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(received.answers.pop(0) if received.answers else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks", received
    server.shutdown()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()  # login throttling counts must not leak between tests


# --- real servers -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_beat = {"on": False}  # the test worker runs no beat: while a test waits, it is the beat


@pytest.fixture(autouse=True)
def _tests_with_a_worker_are_its_beat(request):
    _beat["on"] = "celery_worker" in request.fixturenames
    if _beat["on"]:
        request.getfixturevalue("_worker_idle_before_the_flush")
    yield
    _beat["on"] = False


WORKER_NAME = f"test-{os.environ['ATRIUM_QUEUE']}@%h"  # one name per test session (xdist runs two)


@pytest.fixture
def _worker_idle_before_the_flush(db):
    """A test with a worker ends with the worker idle: nothing queued, nothing
    running. What a finished run leaves behind (its model's registry sync, a poll
    claimed just before it ended) would otherwise still be writing when the test
    database is flushed, and PostgreSQL would break the deadlock by failing the flush.
    Depends on ``db`` so that it is torn down before the flush."""
    yield
    from django.conf import settings

    from portal.celery import app

    name = WORKER_NAME.replace("%h", socket.gethostname())
    deadline, idle_twice = time.monotonic() + 60, 0
    while time.monotonic() < deadline and idle_twice < 2:
        with app.connection_for_read() as connection:
            try:
                queued = connection.default_channel.queue_declare(
                    queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
                ).message_count
            except connection.channel_errors:  # Redis keeps no empty queue: nothing waits in it
                queued = 0
        inspect = app.control.inspect(destination=[name], timeout=2)
        busy = [*((inspect.active() or {}).get(name) or []), *((inspect.reserved() or {}).get(name) or [])]
        idle_twice = idle_twice + 1 if not queued and not busy else 0
        if idle_twice < 2:
            time.sleep(0.2)


def beat_tick() -> None:
    """What the beat would do now: hand due runs (and undone effects) to the worker.
    Only from a test whose database writes the worker can see (no transaction open)."""
    from django.db import connection

    if _beat["on"] and not connection.in_atomic_block:
        from apps.runs.tasks import poll_due_runs

        poll_due_runs()


def wait_until(predicate, timeout: float, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        beat_tick()
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_for_job(poll, external_id: str, timeout: float = 120):
    """Poll a backend job (``backend.poll_training`` and the like) until it has ended; its last status."""
    return wait_until(
        lambda: (status := poll(external_id)).state.is_terminal and status, timeout, 0.5, f"job {external_id}"
    )


def _stop(process: subprocess.Popen):
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


# As `make run` starts MLflow: webhooks may call the portal on this machine over http.
MLFLOW_WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": "Qm9xZXMtb2YtY2xlYXItc2t5LTEyMzQ1Njc4OTAxMjM=",
}


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server with a SQLite store in a temp folder."""
    import requests

    home = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    with open(home / "server.log", "wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{home / 'mlflow.db'}",
                "--artifacts-destination",
                str(home / "artifacts"),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # No MLflow job runner (GenAI evaluation, trace rollups): Atrium uses none, and it is
            # three more processes per server.
            env={
                **os.environ,
                **MLFLOW_WEBHOOK_ENV,
                "MLFLOW_WEBHOOK_CACHE_TTL": "1",
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            },
        )
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return requests.get(f"{url}/health", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        wait_until(healthy, 90, message="the MLflow server")
        yield url
    finally:
        _stop(process)


def worker_database_url() -> str:
    """The test database, as a URL the worker subprocess can open."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{settings['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, mlflow_server, tmp_path_factory):
    """A real Celery worker on the test database and broker. It runs no beat:
    a beat task mid-transaction could deadlock with a test's end-of-test flush,
    so the tests poll due runs themselves while they wait (``beat_tick``)."""
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {**os.environ, "DATABASE_URL": database_url, "MLFLOW_TRACKING_URI": mlflow_server}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "portal",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                f"--hostname={WORKER_NAME}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until(lambda: b"ready" in log_path.read_bytes() or process.poll() is not None, 60, message="the worker")
    assert process.poll() is None, log_path.read_text()[-3000:]
    process.log_path = log_path  # tests read what the worker logged (e.g. that no secret is in it)
    yield process
    _stop(process)
    if os.environ.get("ATRIUM_SHOW_WORKER_LOG"):
        print(log_path.read_text()[-20000:])


@pytest.fixture(scope="session", autouse=True)
def _session_var():
    """Remove this session's var/ folder afterwards, and those of dead sessions."""
    for folder in TEST_ROOT.glob("session-*"):
        pid = int(folder.name.removeprefix("session-"))
        if folder != TEST_VAR and not psutil.pid_exists(pid):
            shutil.rmtree(folder, ignore_errors=True)
    yield
    shutil.rmtree(TEST_VAR, ignore_errors=True)


def wait_for_run(run, statuses, timeout=120):
    """Reload ``run`` until it reaches one of ``statuses`` (and, once it has ended, its effects)."""
    from apps.runs.models import TERMINAL, Run

    def reached():
        run.refresh_from_db()
        return run.status in statuses

    try:
        wait_until(reached, timeout, message=f"run to reach {statuses}")
    except AssertionError:
        events = "\n".join(f"{e.kind} {e.to_status} {e.message}" for e in run.events.order_by("id"))
        raise AssertionError(f"run is {run.status}: {run.status_message}\n{events}") from None
    if run.status in TERMINAL:
        # What follows a run's end (its notification, model links, the endpoint's mirror) is applied
        # just after the end commits (apps/runs/hooks.py): a test reading them right away raced it.
        # A test of an effect that fails finds the run still flagged after this wait.
        settled = Run.objects.filter(pk=run.pk, effects_pending=False)
        with contextlib.suppress(AssertionError):
            wait_until(settled.exists, 20, message="the run's effects")
    return run
