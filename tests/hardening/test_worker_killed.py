"""The worker-killed drill (issue 15): real (tiny) training, deploy and template
runs through a real Celery worker killed with SIGKILL twenty times at points
drawn from a seeded schedule: about a third of the kills take the whole worker
down (its main process and pool; it is started again), the others one of its
pool processes, in the middle of whatever task it runs (Celery forks another).
A whole-worker restart costs seconds (Django, scikit-learn and MLflow are
loaded before the pool forks), so that share keeps the drill's time modest.

- three trainings (``POST /runs/``);
- two template runs of a catalogue template with two steps: train, then
  deploy the version it registered on a local endpoint;
- a deploy run (kind ``deploy``, local backend) of the version the first
  training registered, started as soon as it has succeeded.

Expected: every run ends succeeded (0 lost); per training step one MLflow run
(found by the ``atrium.run_key`` tag the backend sets) and one model version,
in MLflow and in the portal; per endpoint one folder under the jobs folder's
``_endpoints/`` and one model server process; one notification per run
(0 duplicates).

The worker here is this test's own (the session's is left alone); the test
is its beat while it waits. Each kill comes 0.1 to 0.6 s after the worker is
ready (it preloads scikit-learn before forking, so it works from then on)."""

from __future__ import annotations

import os
import random
import textwrap
import time

import psutil
import pytest

from tests import conftest
from tests.conftest import wait_until, worker_database_url
from tests.hardening.drills import Worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TRAININGS, TEMPLATES, DEPLOYS = 3, 2, 1
KILLS = 20
WHOLE_WORKER = 0.3  # the share of kills that take the whole worker (and its pool) down; the others, one pool process
SEED = 15
# Shortened for the drill, read by both sides. The attempt limit is raised: a step whose submit
# is cut short by a kill spends an attempt, and giving up is not what this drill is about.
DRILL_SETTINGS = {
    "ATRIUM_SUBMIT_WATCHDOG_SECONDS": ("RUN_SUBMIT_WATCHDOG_SECONDS", 4),
    "ATRIUM_POLL_LEASE_SECONDS": ("RUN_POLL_LEASE_SECONDS", 2),
    "ATRIUM_RUN_MAX_ATTEMPTS": ("RUN_MAX_ATTEMPTS", KILLS + 1),
}
ENDED = {"succeeded", "failed", "cancelled"}

TRAIN_AND_DEPLOY = """
apiVersion: atrium/v1
slug: drill-train-deploy
name: Drill, train and deploy
owner: {owner}
visibility: organisation
kind: deploy
backends: [local]
description: Train a classifier, then serve the version it registered.
parameters:
  type: object
  required: [model_name, endpoint]
  properties:
    model_name: {{type: string, pattern: "^[a-z0-9-]+$"}}
    endpoint: {{type: string, pattern: "^[a-z0-9-]+$"}}
steps:
  - id: train
    action: train
    input:
      model_name: ${{{{ parameters.model_name }}}}
      dataset: iris
      algorithm: logistic_regression
      hyperparameters: {{max_iter: 200}}
  - id: deploy
    action: deploy
    input:
      endpoint: ${{{{ parameters.endpoint }}}}
      variants:
        - name: primary
          model_name: ${{{{ steps.train.outputs.model_name }}}}
          model_version: ${{{{ steps.train.outputs.model_version }}}}
          target: cpu
"""


@pytest.fixture
def worker(django_db_blocker, mlflow_server, tmp_path, settings):
    for name, value in DRILL_SETTINGS.values():
        setattr(settings, name, value)
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    env = {**os.environ, "DATABASE_URL": database_url, "MLFLOW_TRACKING_URI": mlflow_server}
    env.update({variable: str(value) for variable, (_, value) in DRILL_SETTINGS.items()})
    drill = Worker(env, tmp_path)
    drill.start()
    conftest._beat["on"] = True
    yield drill
    conftest._beat["on"] = False
    drill.stop()


@pytest.fixture
def endpoints(settings):
    """The endpoints the drill makes; none outlives it (deleted even if it fails)."""
    from apps.backends.registry import get_backend

    names: list[str] = []
    yield names
    for name in names:
        get_backend("local").delete_endpoint(name)


@pytest.fixture
def template(db, team):
    from apps.catalog.services import spec_parse, template_save

    text = textwrap.dedent(TRAIN_AND_DEPLOY).format(owner=team.slug)
    saved, _ = template_save(spec=spec_parse(text, source="drill.yaml"), source="drill.yaml")
    return saved


def server_processes(folder) -> int:
    """Model server processes serving the endpoint in ``folder``."""
    found = 0
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        found += "apps.backends.local.serving" in cmdline and str(folder) in cmdline
    return found


def test_killing_the_worker_loses_and_duplicates_nothing(worker, endpoints, template, mlflow_server, api, settings):
    from mlflow import MlflowClient

    from apps.notifications.models import Notification
    from apps.registry.models import ModelVersion
    from apps.runs.models import Run, RunStatus, RunStep

    settings.MLFLOW_TRACKING_URI = mlflow_server
    schedule = random.Random(SEED)
    suffix = os.urandom(3).hex()
    algorithms = ["logistic_regression", "knn", "decision_tree"]

    def post(path, payload):
        response = api.post(path, payload, format="json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    ids = []
    trainings = [f"drill-{suffix}-{i}" for i in range(TRAININGS)]
    for i, name in enumerate(trainings):
        params = {"dataset": "iris", "algorithm": algorithms[i % 3], "model_name": name}
        ids.append(post("/api/v1/runs/", {"kind": "train", "params": params}))
    for i in range(TEMPLATES):
        params = {"model_name": f"drill-{suffix}-t{i}", "endpoint": f"drill-{suffix}-t{i}"}
        endpoints.append(params["endpoint"])
        ids.append(post(f"/api/v1/templates/{template.slug}/launch/", {"params": params}))
    deploys: dict[str, str] = {}  # training's model name -> its deploy run

    def deploy_what_has_been_trained():
        for name in trainings[:DEPLOYS]:
            if name not in deploys and Run.objects.filter(pk=ids[trainings.index(name)], status="succeeded").exists():
                variant = {"name": "primary", "model_name": name, "model_version": "1", "target": "cpu"}
                endpoints.append(name)
                deploys[name] = post(
                    "/api/v1/runs/", {"kind": "deploy", "params": {"endpoint": name, "variants": [variant]}}
                )
                ids.append(deploys[name])

    def drill_runs():
        return Run.objects.filter(pk__in=ids)

    kills = []  # what was in flight at each kill
    for kill in range(KILLS):
        end = time.monotonic() + schedule.uniform(0.1, 0.6)
        while time.monotonic() < end:
            conftest.beat_tick()
            deploy_what_has_been_trained()
            time.sleep(0.2)
        in_flight = drill_runs().exclude(status__in=ENDED).values_list("kind", "status")
        kills.append(sorted(f"{kind}:{status}" for kind, status in in_flight))
        # The last kill takes the whole worker: a pool process killed just as the main process
        # handed it a task leaves that task reserved for ever, and the worker takes no more
        # (Celery's prefork pool; a restart clears it). Seen here on the filesystem broker.
        if schedule.random() < WHOLE_WORKER or kill == KILLS - 1:
            worker.kill()
            worker.start()
        else:
            worker.kill_pool_process(schedule.choice)

    def all_ended():
        deploy_what_has_been_trained()
        return len(deploys) == DEPLOYS and set(drill_runs().values_list("status", flat=True)) <= ENDED

    wait_until(all_ended, 240, 0.5, message="every run to end after the kills")
    runs = drill_runs()
    states = {run.name: (run.status, run.status_message) for run in runs}
    assert runs.count() == TRAININGS + TEMPLATES + DEPLOYS, states
    assert all(s == RunStatus.SUCCEEDED for s, _ in states.values()), states

    client = MlflowClient(mlflow_server)
    experiments = [e.experiment_id for e in client.search_experiments()]
    for step in RunStep.objects.filter(run__in=runs, action="train"):
        key_tag = f"tags.`atrium.run_key` = '{step.idempotency_key}'"
        assert len(client.search_runs(experiments, filter_string=key_tag)) == 1, step.model_name
        assert len(client.search_model_versions(f"name = '{step.model_name}'")) == 1, step.model_name
        assert ModelVersion.objects.filter(model__name=step.model_name).count() == 1, step.model_name
    endpoints_dir = settings.LOCAL_JOBS_DIR / "_endpoints"
    made = sorted(p.name for p in endpoints_dir.iterdir() if p.is_dir() and p.name.startswith(f"drill-{suffix}-"))
    assert made == sorted(endpoints)
    for name in endpoints:
        assert server_processes(endpoints_dir / name) == 1, name
    for run in runs:
        wait_until(lambda r=run: Notification.objects.filter(run=r).exists(), 60, message="the notification")
        assert Notification.objects.filter(run=run).count() == 1, run.name
    busy = sum(1 for k in kills if k)
    print(
        f"worker drill: {runs.count()} runs ({TRAININGS} trainings, {TEMPLATES} templates of 2 steps, "
        f"{DEPLOYS} deploys), {KILLS} kills ({worker.starts - 1} of the whole worker, the others of a pool "
        f"process; {busy} with runs in flight), "
        f"0 lost, 0 duplicated (MLflow runs, model versions, {len(endpoints)} endpoints, notifications); "
        f"attempts {sorted(runs.values_list('attempts', flat=True))}; in flight at each kill: {kills}"
    )
