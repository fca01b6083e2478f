"""The Costs page and API over a year of daily rollups, under concurrent clients.

    .venv/bin/python bench/costs.py [--teams 20] [--models 100] [--services 5] [--days 365] [--clients 16]

Seeds ``teams x models x services x days`` daily cost rows (each model belongs to
one team; 20 x 500 x 5 x 365 is the issue's 18 million) into a throwaway SQLite
database (or DATABASE_URL), serves the portal with gunicorn (DEBUG off), and
prints p50 / p95 under ``--clients`` concurrent clients of: a manager's dashboard
(one team, the last 90 days), an admin's (every team), the API grouped by team and
model over a month, and the anchor in the same run: the login page.

Not a test: it asserts nothing.
"""

import argparse
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

from common import PASSWORD, logged_in_session, measure, portal_server, report, setup_django


def seed(*, teams: int, models: int, services: int, days: int):
    from apps.accounts.models import Role
    from apps.accounts.services import team_get_or_create, user_create
    from apps.costs.models import Budget, DailyCost

    made = [team_get_or_create(name=f"Team {t:02d}") for t in range(teams)]
    manager = user_create(username="bench-manager", password=PASSWORD, role=Role.MANAGER, teams=[made[0]])
    user_create(username="bench-admin", password=PASSWORD, role=Role.ADMIN, teams=[])
    for team in made:
        Budget.objects.create(team=team, amount=Decimal(50000))
    today = date.today()
    rows, total, started = [], 0, time.perf_counter()
    for n in range(days):
        day = today - timedelta(days=n)
        for m in range(models):
            team = made[m % teams]
            for s in range(services):
                rows.append(
                    DailyCost(
                        day=day,
                        source="local",
                        backend=("sagemaker", "databricks", "local")[s % 3],
                        service=f"service-{s}",
                        team=team,
                        team_tag=team.slug,
                        project=f"project-{m % 7}",
                        model_name=f"model-{m:04d}",
                        endpoint=f"endpoint-{m:04d}" if s == 0 else "",
                        amount=Decimal((m * 7 + s * 3 + n) % 97) / 10,
                    )
                )
        if len(rows) >= 50_000:
            DailyCost.objects.bulk_create(rows, batch_size=5000)
            total += len(rows)
            rows = []
    DailyCost.objects.bulk_create(rows, batch_size=5000)
    total += len(rows)
    print(f"seeded {total:,} daily cost rows in {time.perf_counter() - started:.0f} s")
    return manager


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=160)
    args = parser.parse_args()
    setup_django()
    seed(teams=args.teams, models=args.models, services=args.services, days=args.days)
    start = (date.today() - timedelta(days=29)).isoformat()
    with portal_server(workers=2, threads=4) as base:
        manager = logged_in_session(base, "bench-manager")
        admin = logged_in_session(base, "bench-admin")
        anonymous = logged_in_session(base, f"nobody-{uuid.uuid4().hex[:4]}")
        for name, session, path in [
            ("anchor: login page", anonymous, "/login/"),
            ("manager dashboard (90 days)", manager, "/costs/?period=90"),
            ("manager dashboard (a year)", manager, "/costs/?period=365"),
            ("admin dashboard (90 days)", admin, "/costs/?period=90"),
            ("API team,model (30 days)", manager, f"/api/v1/costs/?group_by=team,model&start={start}"),
        ]:
            measure(base + path, session, args.clients, args.clients)  # warm up
            report(name, measure(base + path, session, args.clients, args.requests))


if __name__ == "__main__":
    main()
