"""Models pages against MLflow's own API, on the same data, in the same run.

    .venv/bin/python bench/registry.py [--models 10000] [--versions 100000] [--big 1000] [--clients 16] [--requests 400]

Seeds the portal's mirror (a throwaway SQLite database, or DATABASE_URL) with
``--models`` models and ``--versions`` versions in all, one model holding
``--big`` of them, and an MLflow tracking server (SQLite store in a temp
folder) with the same models and versions. MLflow is seeded by SQL bulk
inserts straight into its SQLite store, after the server has created its
schema: registering 100,000 versions through its REST API takes hours. Then,
``--clients`` at a time, it times:

* our models list page (HTML, 25 a page) and MLflow's ``registered-models/search`` (JSON, 25);
* our page of the model with ``--big`` versions (HTML: 100 versions a page, aliases on
  every row, the metric chart over all versions) and MLflow's ``model-versions/search``
  for that model (JSON, 100).

Not a test: it asserts nothing.
"""

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import PASSWORD, free_port, logged_in_session, measure, portal_server, report, setup_django

BIG = "big-model"


def seed_portal(models: int, versions: int, big: int) -> str:
    from apps.accounts.models import Role
    from apps.accounts.services import team_get_or_create, user_create
    from apps.registry.models import ModelAlias, ModelVersion, RegisteredModel

    team = team_get_or_create(name="Bench")
    user = user_create(
        username=f"bench-{uuid.uuid4().hex[:6]}", password=PASSWORD, role=Role.DATA_SCIENTIST, teams=[team]
    )
    now = datetime.now(tz=UTC)
    per_model = max(1, (versions - big) // max(1, models - 1))
    rows, version_rows, alias_rows = [], [], []
    for i in range(models):
        count = big if i == 0 else per_model
        rows.append(
            RegisteredModel(
                team=team,
                backend="local",
                source="local",
                name=BIG if i == 0 else f"model-{i:05d}",
                latest_version_number=count,
                latest_version_at=now - timedelta(minutes=i),
                version_count=count,
                latest_metrics={"accuracy": 0.5 + (i % 50) / 100},
                primary_metric="accuracy",
                tags={"project": f"p{i % 20}"},
            )
        )
    RegisteredModel.objects.bulk_create(rows, batch_size=2000)
    for model in rows:
        for n in range(1, model.version_count + 1):
            version_rows.append(
                ModelVersion(
                    model=model,
                    version=str(n),
                    number=n,
                    metrics={"accuracy": 0.5 + (n % 50) / 100},
                    approval_status="Approved" if n % 3 == 0 else "PendingManualApproval",
                    upstream_created_at=now - timedelta(minutes=n),
                )
            )
        if len(version_rows) >= 20000:
            ModelVersion.objects.bulk_create(version_rows, batch_size=5000)
            alias_rows += _aliases(version_rows)
            version_rows = []
    ModelVersion.objects.bulk_create(version_rows, batch_size=5000)
    alias_rows += _aliases(version_rows)
    ModelAlias.objects.bulk_create(alias_rows, batch_size=5000)
    return user.username


def _aliases(versions) -> list:
    """champion on version 1 and challenger on version 2 of every model."""
    from apps.registry.models import ModelAlias

    names = {"1": "champion", "2": "challenger"}
    return [ModelAlias(model_id=v.model_id, version=v, alias=names[v.version]) for v in versions if v.version in names]


def start_mlflow(folder: Path) -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder)]
    command += ["--workers", "2"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return server, url
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit("MLflow did not start")


def seed_mlflow(database: Path, models: int, versions: int, big: int) -> None:
    """Bulk SQL inserts into MLflow's own tables (the schema the server created)."""
    db = sqlite3.connect(database)
    now = int(time.time() * 1000)
    per_model = max(1, (versions - big) // max(1, models - 1))

    def insert(table: str, rows: list[dict]) -> None:
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]  # noqa: S608 - our table names
        names = [c for c in columns if c in rows[0]]
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608
        db.executemany(sql, [[row[c] for c in names] for row in rows])

    extra = {"workspace": "default"}
    model_rows, version_rows, alias_rows = [], [], []
    for i in range(models):
        name = BIG if i == 0 else f"model-{i:05d}"
        model_rows.append(
            {"name": name, "creation_time": now - i, "last_updated_time": now - i, "description": ""} | extra
        )
        for n in range(1, (big if i == 0 else per_model) + 1):
            version_rows.append(
                {
                    "name": name,
                    "version": n,
                    "creation_time": now - n,
                    "last_updated_time": now - n,
                    "description": "",
                    "user_id": "",
                    "current_stage": "None",
                    "source": f"models:/m-{uuid.uuid4().hex}",
                    "run_id": uuid.uuid4().hex,
                    "status": "READY",
                    "status_message": "",
                    "run_link": "",
                    "storage_location": "",
                }
                | extra
            )
        alias_rows += [
            {"name": name, "alias": a, "version": v} | extra for a, v in (("champion", 1), ("challenger", 2))
        ]
    insert("registered_models", model_rows)
    insert("model_versions", version_rows)
    insert("registered_model_aliases", alias_rows)
    db.commit()
    db.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=10000)
    parser.add_argument("--versions", type=int, default=100000)
    parser.add_argument("--big", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    setup_django()
    started = time.perf_counter()
    username = seed_portal(args.models, args.versions, args.big)
    print(f"seeded the portal: {args.models} models, {args.versions} versions in {time.perf_counter() - started:.1f}s")
    folder = Path(tempfile.mkdtemp(prefix="atrium-bench-mlflow-"))
    mlflow, mlflow_url = start_mlflow(folder)
    try:
        started = time.perf_counter()
        seed_mlflow(folder / "mlflow.db", args.models, args.versions, args.big)
        print(f"seeded MLflow (SQL bulk inserts) in {time.perf_counter() - started:.1f}s")
        import requests

        from apps.registry.models import RegisteredModel

        big_pk = RegisteredModel.objects.get(name=BIG).pk
        with portal_server() as base:
            browser = logged_in_session(base, username)
            plain = requests.Session()
            measure(base + "/models/", browser, 2, 10)  # warm up
            measure(f"{mlflow_url}/api/2.0/mlflow/registered-models/search?max_results=25", plain, 2, 10)
            search = f"{mlflow_url}/api/2.0/mlflow/model-versions/search"
            for name, session, url in [
                ("GET /models/ (HTML)", browser, f"{base}/models/"),
                (
                    "MLflow registered-models/search",
                    plain,
                    f"{mlflow_url}/api/2.0/mlflow/registered-models/search?max_results=25",
                ),
                (f"GET /models/<{args.big} versions>/ (HTML)", browser, f"{base}/models/{big_pk}/"),
                ("MLflow model-versions/search", plain, f"{search}?filter=name%3D%27{BIG}%27&max_results=100"),
            ]:
                report(name, measure(url, session, args.clients, args.requests))
    finally:
        os.killpg(mlflow.pid, 15)
        mlflow.wait(timeout=30)


if __name__ == "__main__":
    main()
