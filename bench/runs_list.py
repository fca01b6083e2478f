"""Runs list latency: p50/p95 of the HTML page and the API under concurrent clients.

    .venv/bin/python bench/runs_list.py [--runs 10000] [--clients 8] [--requests 400]

Seeds runs into a throwaway SQLite database (or DATABASE_URL if set — then it
writes there), serves the portal with gunicorn on a free port and prints
figures. Not a test: it asserts nothing.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(count: int) -> str:
    import django

    django.setup()
    from django.core.management import call_command

    from apps.accounts.models import Role
    from apps.accounts.services import api_token_create, team_get_or_create, user_create
    from apps.runs.models import Run, RunStatus

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    team = team_get_or_create(name="Bench")
    user = user_create(
        username=f"bench-{uuid.uuid4().hex[:6]}", password="bench-pw-123", role=Role.DATA_SCIENTIST, teams=[team]
    )
    statuses = list(RunStatus.values)
    runs = []
    for i in range(count):
        run_id = uuid.uuid4()
        runs.append(
            Run(
                id=run_id,
                team=team,
                created_by=user,
                kind="train",
                backend="local",
                status=statuses[i % len(statuses)],
                params={"model_name": f"m{i}"},
                idempotency_key=f"atr-{run_id.hex}",
                name=f"bench run {i}",
            )
        )
    Run.objects.bulk_create(runs, batch_size=2000)
    _, key = api_token_create(user=user)
    return key, user.username


def logged_in_session(base: str, username: str):
    import requests

    session = requests.Session()
    session.get(base + "/login/", timeout=10)
    session.post(
        base + "/login/",
        data={"username": username, "password": "bench-pw-123", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=10,
    )
    return session


def measure(url: str, session, clients: int, total: int) -> list[float]:

    def one(_):
        start = time.perf_counter()
        response = session.get(url, timeout=30)
        response.raise_for_status()
        return (time.perf_counter() - start) * 1000

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(total)))


def report(name: str, timings: list[float]) -> None:
    quantiles = statistics.quantiles(timings, n=100)
    print(f"{name:<28} n={len(timings):<5} p50={quantiles[49]:7.1f} ms  p95={quantiles[94]:7.1f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="atrium-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3")
    os.environ.update(
        ATRIUM_VAR_DIR=scratch, DEBUG="0", SECRET_KEY="bench-only", DJANGO_SETTINGS_MODULE="portal.settings"
    )
    started = time.perf_counter()
    key, username = seed(args.runs)
    print(f"seeded {args.runs} runs in {time.perf_counter() - started:.1f}s")

    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    try:
        import requests

        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(base + "/api/schema/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        api = requests.Session()
        api.headers["Authorization"] = f"Token {key}"
        browser = logged_in_session(base, username)
        measure(base + "/runs/", browser, 2, 20)  # warm up
        for name, session, path in [
            ("GET /runs/ (HTML)", browser, "/runs/"),
            ("GET /runs/?status=failed", browser, "/runs/?status=failed&mine=on"),
            ("GET /api/v1/runs/", api, "/api/v1/runs/"),
        ]:
            report(name, measure(base + path, session, args.clients, args.requests))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
