"""The Costs page and API over a year of daily costs, under concurrent clients.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atrium_costs_bench \\
        .venv/bin/python bench/costs.py [--teams 20] [--models 500] [--services 5] [--days 365] [--clients 16]

Seeds ``teams x models x services x days`` raw daily cost rows (``--models`` per team, each
model of one team; 20 x 500 x 5 x 365 is the issue's 18 million) straight into PostgreSQL with
``generate_series`` (one statement per day), then the rollups from them by the SQL ingestion
runs (``rollups_refresh``), and prints the row counts. ``--reuse`` keeps what an earlier run
seeded. It serves the portal with gunicorn (DEBUG off) and prints p50 / p95 under
``--clients`` concurrent clients of a manager's dashboard (one team: 90 days, a year), an
admin's (every team), the API grouped by team and model, and the anchor in the same run:
the login page. "uncached" rows ask with a query string never asked before (the page's
cache is keyed by it), so every request computes the page; "cached" rows repeat one URL.

Needs PostgreSQL (the seeding is PostgreSQL's SQL). Not a test: it asserts nothing. Drop
the database afterwards: ``dropdb -h 127.0.0.1 -U postgres atrium_costs_bench``.
"""

import argparse
import itertools
import os
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

from common import PASSWORD, logged_in_session, measure, portal_server, report, setup_django

SEED_DAY = """
INSERT INTO costs_dailycost (day, source, backend, service, team_id, team_tag, project, model_name,
    model_version, endpoint, run, amount, currency, is_estimate)
SELECT %(day)s::date, 'local', (ARRAY['sagemaker', 'databricks', 'local'])[s %% 3 + 1], 'service-' || s,
    (%(team_ids)s::uuid[])[m %% %(teams)s + 1], (%(slugs)s::text[])[m %% %(teams)s + 1],
    'project-' || (m %% 7), 'model-' || lpad(m::text, 4, '0'), '',
    CASE WHEN s = 0 THEN 'endpoint-' || lpad(m::text, 4, '0') ELSE '' END, '',
    ((m * 7 + s * 3 + %(n)s) %% 97) / 10.0, 'USD', false
FROM generate_series(0, %(models)s - 1) AS m, generate_series(0, %(services)s - 1) AS s
"""


def seed(*, teams: int, models: int, services: int, days: int) -> None:
    from django.db import connection

    from apps.accounts.models import Role
    from apps.accounts.services import team_get_or_create, user_create
    from apps.costs.models import Budget

    made = [team_get_or_create(name=f"Team {t:02d}") for t in range(teams)]
    user_create(username="bench-manager", password=PASSWORD, role=Role.MANAGER, teams=[made[0]])
    user_create(username="bench-admin", password=PASSWORD, role=Role.ADMIN, teams=[])
    for team in made:
        Budget.objects.create(team=team, amount=Decimal(50000))
    today = date.today()
    params = {"team_ids": [t.pk for t in made], "slugs": [t.slug for t in made], "teams": teams}
    params.update(models=teams * models, services=services)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for n in range(days):  # oldest first: the table is in day order, as daily ingestion leaves it
            cursor.execute(SEED_DAY, {**params, "day": today - timedelta(days=days - 1 - n), "n": days - 1 - n})
            if n % 30 == 29:
                print(f"  {n + 1} days seeded, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"seeded {days * teams * models * services:,} raw rows in {time.perf_counter() - started:.0f} s", flush=True)
    rollups_make(days=days)


def rollups_make(*, days: int) -> None:
    """The rollups of the seeded year, afresh, by ingestion's own SQL (a backfill of the year)."""
    from django.db import connection, transaction

    from apps.costs.models import ModelCost, ServiceCost
    from apps.costs.rollups import rollups_refresh

    started = time.perf_counter()
    today = date.today()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ServiceCost._meta.db_table}, {ModelCost._meta.db_table}")
    with transaction.atomic():
        rollups_refresh(source="local", start=today - timedelta(days=days - 1), end=today)
    print(f"rollups made by ingestion's SQL in {time.perf_counter() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does soon after a load this size


def row_counts() -> None:
    from django.db.models import Count

    from apps.costs.models import DailyCost, ModelCost, ServiceCost

    print(f"raw rows (DailyCost): {DailyCost.objects.count():,}")
    for model in (ServiceCost, ModelCost):
        grains = dict(model.objects.values_list("grain").annotate(n=Count("id")).order_by())
        print(f"{model.__name__}: {grains.get('d', 0):,} daily rows, {grains.get('m', 0):,} monthly rows")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--models", type=int, default=500, help="per team")
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--reuse", action="store_true", help="keep the rows an earlier run seeded")
    parser.add_argument("--rollups-again", action="store_true", help="with --reuse: remake the rollups")
    parser.add_argument("--only", default="", help="comma-separated words: the cases whose names hold one")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        parser.error("set DATABASE_URL to a PostgreSQL database (the seeding is PostgreSQL's SQL)")
    setup_django()
    from apps.accounts.models import User

    if not (args.reuse and User.objects.filter(username="bench-admin").exists()):
        seed(teams=args.teams, models=args.models, services=args.services, days=args.days)
    elif args.rollups_again:
        rollups_make(days=args.days)
    try:
        row_counts()
    except Exception as exc:  # an older checkout (no rollups) run with --reuse for the "before" figures
        print(f"(no rollup tables: {exc.__class__.__name__})")
    start = (date.today() - timedelta(days=29)).isoformat()
    fresh = itertools.count()
    with portal_server(workers=2, threads=4) as base:
        manager = logged_in_session(base, "bench-manager")
        admin = logged_in_session(base, "bench-admin")
        anonymous = logged_in_session(base, f"nobody-{uuid.uuid4().hex[:4]}")
        cases = [
            ("anchor: login page", anonymous, "/login/", False),
            ("manager dashboard 90 d, uncached", manager, "/costs/?period=90", True),
            ("manager dashboard 90 d, cached", manager, "/costs/?period=90", False),
            ("manager dashboard 1 y, uncached", manager, "/costs/?period=365", True),
            ("manager dashboard 1 y, cached", manager, "/costs/?period=365", False),
            ("admin dashboard 90 d, uncached", admin, "/costs/?period=90", True),
            ("admin dashboard 90 d, cached", admin, "/costs/?period=90", False),
            ("admin dashboard 1 y, uncached", admin, "/costs/?period=365", True),
            ("API team,model 30 d (manager)", manager, f"/api/v1/costs/?group_by=team,model&start={start}", False),
            ("API team,model 30 d (admin)", admin, f"/api/v1/costs/?group_by=team,model&start={start}", False),
            (
                "API team 1 y by month (admin)",
                admin,
                "/api/v1/costs/?group_by=team&granularity=month&start="
                + (date.today() - timedelta(days=364)).isoformat(),
                False,
            ),
        ]
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        for name, session, path, uncached in cases:
            if wanted and not any(w in name for w in wanted):
                continue
            url = base + path
            vary = (lambda u=url: f"{u}&fresh={next(fresh)}") if uncached else None
            measure(url, session, args.clients, args.clients, vary=vary)  # warm up
            report(name, measure(url, session, args.clients, args.requests, vary=vary))


if __name__ == "__main__":
    main()
