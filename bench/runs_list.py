"""Runs list latency: p50/p95 of the HTML page and the API under concurrent clients.

    .venv/bin/python bench/runs_list.py [--runs 10000] [--clients 8] [--requests 400]

Seeds runs into a throwaway SQLite database (or DATABASE_URL if set — then it
writes there), serves the portal with gunicorn on a free port and prints
figures. Not a test: it asserts nothing.
"""

import argparse
import time
import uuid

from common import PASSWORD, logged_in_session, measure, portal_server, report, setup_django


def seed(count: int) -> tuple[str, str]:
    from apps.accounts.models import Role
    from apps.accounts.services import api_token_create, team_get_or_create, user_create
    from apps.runs.models import Run, RunStatus

    team = team_get_or_create(name="Bench")
    user = user_create(
        username=f"bench-{uuid.uuid4().hex[:6]}", password=PASSWORD, role=Role.DATA_SCIENTIST, teams=[team]
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    setup_django()
    started = time.perf_counter()
    key, username = seed(args.runs)
    print(f"seeded {args.runs} runs in {time.perf_counter() - started:.1f}s")
    with portal_server() as base:
        import requests

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


if __name__ == "__main__":
    main()
