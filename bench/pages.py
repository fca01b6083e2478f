"""The five main pages as a newcomer meets them: page weight and server time.

    .venv/bin/python bench/pages.py [--rows 10000] [--requests 60]

Serves the portal with gunicorn (DEBUG off, static files collected: hashed,
compressed, as in production) from a throwaway SQLite database (or
DATABASE_URL if set -- then it writes there), and prints:

* for the home, the Catalogue, Runs, Models and a model page, on a small
  team's data (the shipped catalogue, 30 runs, 10 models): the first page
  weight (the HTML and every stylesheet, script and icon it names, compressed
  as served) and the repeat weight (the same with a warm cache: an asset whose
  name carries its content hash and is cached for a year is not asked again;
  any other asset is revalidated and counted again), then the server time:
  p50 and p95 of sequential requests (one at a time, one gunicorn worker with
  one thread) and the server's CPU time per request (steadier than the clock
  when others share the machine);
* the same server times after ``--rows`` runs, templates and models are added:
  the list pages with 10,000 rows (the target is <= 15 ms);
* the anchor, in the same run: the login page, the least a Django page costs here.

Not a test: it asserts nothing.
"""

import argparse
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

from common import PASSWORD, logged_in_session, portal_server, setup_django

ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src|img[^>]+src)="([^"]+)"')
A_YEAR = 365 * 24 * 3600


def user_with_teams():
    from apps.accounts.models import Role
    from apps.accounts.services import team_get_or_create, user_create

    team = team_get_or_create(name="Bench")
    user = user_create(
        username=f"bench-{uuid.uuid4().hex[:6]}", password=PASSWORD, role=Role.DATA_SCIENTIST, teams=[team]
    )
    return user, team


def seed_runs(user, team, count: int, offset: int = 0) -> None:
    from apps.runs.models import Run, RunStatus, RunStep

    statuses = list(RunStatus.values)
    runs, steps = [], []
    for i in range(offset, offset + count):
        run_id = uuid.uuid4()
        status = statuses[i % len(statuses)]
        params = {"dataset": "iris", "algorithm": "random_forest", "model_name": f"model-{i:05d}"}
        runs.append(
            Run(
                id=run_id,
                team=team,
                created_by=user,
                kind="train",
                backend="local",
                status=status,
                params=params,
                idempotency_key=f"atr-{run_id.hex}",
                name=f"bench run {i}",
            )
        )
        steps.append(
            RunStep(
                run_id=run_id,
                position=0,
                key="train",
                name="Training",
                action="train",
                params=params,
                status=status,
                idempotency_key=f"atr-{run_id.hex}",
            )
        )
    Run.objects.bulk_create(runs, batch_size=2000)
    RunStep.objects.bulk_create(steps, batch_size=2000)


def seed_templates(team, count: int) -> None:
    from apps.catalog.models import Template, TemplateVersion

    templates = [
        Template(
            slug=f"bench-{i}",
            name=f"Bench template {i}",
            summary=f"A pipeline number {i}",
            description=f"Bench template {i}.",
            owner=team,
            visibility="organisation",
            kind="train",
            backends=",local,",
            search_text=f"bench template {i}",
        )
        for i in range(count)
    ]
    Template.objects.bulk_create(templates, batch_size=1000)
    versions = [
        TemplateVersion(template=t, number=1, spec={"name": t.name, "steps": []}, checksum="0" * 64, source="bench")
        for t in templates
    ]
    TemplateVersion.objects.bulk_create(versions, batch_size=1000)
    for template, version in zip(templates, versions, strict=True):
        template.current_version = version
    Template.objects.bulk_update(templates, ["current_version"], batch_size=1000)


def seed_models(team, count: int, versions_each: int, offset: int = 0) -> None:
    from apps.registry.models import ModelAlias, ModelVersion, RegisteredModel

    now = datetime.now(tz=UTC)
    models = [
        RegisteredModel(
            team=team,
            backend="local",
            source="local",
            name=f"model-{i:05d}",
            latest_version_number=versions_each,
            latest_version_at=now - timedelta(minutes=i),
            version_count=versions_each,
            latest_metrics={"accuracy": 0.5 + (i % 50) / 100},
            primary_metric="accuracy",
            tags={"project": f"p{i % 20}"},
        )
        for i in range(offset, offset + count)
    ]
    RegisteredModel.objects.bulk_create(models, batch_size=2000)
    versions = [
        ModelVersion(
            model=model,
            version=str(n),
            number=n,
            metrics={"accuracy": 0.5 + (n % 50) / 100, "f1": 0.4 + (n % 40) / 100},
            params={"n_estimators": "100", "max_depth": "8"},
            approval_status="Approved" if n % 3 == 0 else "PendingManualApproval",
            upstream_created_at=now - timedelta(minutes=n),
        )
        for model in models
        for n in range(1, versions_each + 1)
    ]
    ModelVersion.objects.bulk_create(versions, batch_size=5000)
    names = {"1": "champion", "2": "challenger"}
    aliases = [
        ModelAlias(model_id=v.model_id, version=v, alias=names[v.version]) for v in versions if v.version in names
    ]
    ModelAlias.objects.bulk_create(aliases, batch_size=5000)


def weight(session, base: str, path: str) -> tuple[int, int, int]:
    """Bytes on the wire (bodies, compressed as served): first visit, repeat visit, and the asset count."""
    headers = {"Accept-Encoding": "gzip, br"}
    html = session.get(base + path, headers=headers, stream=True, timeout=30)
    html_bytes = len(html.raw.read(decode_content=False))
    first = repeat = html_bytes
    # The body was read raw above; ask again for the text to find the assets.
    text = session.get(base + path, timeout=30).text
    assets = sorted(set(ASSET.findall(text)) | {"/favicon.ico"})
    for asset in assets:
        url = urljoin(base + path, asset)
        response = session.get(url, headers=headers, stream=True, timeout=30)
        body = len(response.raw.read(decode_content=False))
        first += body
        cache = response.headers.get("Cache-Control", "")
        max_age = int(m.group(1)) if (m := re.search(r"max-age=(\d+)", cache)) else 0
        if max_age < A_YEAR:  # revalidated or fetched again on the next visit
            repeat += body
    return first, repeat, len(assets)


def server_processes(base: str) -> list:
    """gunicorn's processes behind ``base`` (those listening on its port)."""
    import psutil

    port = int(base.rsplit(":", 1)[1])
    pids = {c.pid for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == "LISTEN" and c.pid}
    return [psutil.Process(pid) for pid in pids]


def server_time(session, url: str, count: int, processes=()) -> tuple[float, float, float]:
    """p50 and p95 of the time to an answer (one request at a time), and the server's
    CPU time per request: steadier than the clock on a machine others share."""

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in processes)

    timings, before = [], cpu()
    for _ in range(count):
        start = time.perf_counter()
        response = session.get(url, timeout=60)
        timings.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    quantiles = statistics.quantiles(timings, n=20)
    return statistics.median(timings), quantiles[18], (cpu() - before) * 1000 / count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()

    setup_django()
    from django.core.management import call_command

    from apps.registry.models import RegisteredModel

    call_command("load_catalog", verbosity=0)
    user, team = user_with_teams()
    seed_runs(user, team, 30)
    seed_models(team, 10, 12)
    model = RegisteredModel.objects.get(name="model-00000")
    pages = {
        "home": "/",
        "catalogue": "/catalog/",
        "runs": "/runs/",
        "models": "/models/",
        "a model page": f"/models/{model.pk}/",
    }
    lists = ["catalogue", "runs", "models"]

    # One worker, one thread: requests one at a time, each timed alone.
    with portal_server(workers=1, threads=1) as base:
        session, processes = logged_in_session(base, user.username), server_processes(base)
        for path in pages.values():  # warm up: imports, template loading, database caches
            server_time(session, base + path, 5)
        print(
            f"{'page (small team)':<22} {'first':>9} {'repeat':>9} {'assets':>6} {'p50':>9} {'p95':>9} {'cpu/req':>9}"
        )
        anchor = server_time(session, base + "/login/", args.requests, processes)
        print(f"{'anchor: /login/':<22} {'':>9} {'':>9} {'':>6} " + figures(anchor))
        for name, path in pages.items():
            first, repeat, count = weight(session, base, path)
            timing = server_time(session, base + path, args.requests, processes)
            print(f"{name:<22} {first / 1024:7.1f}kB {repeat / 1024:7.1f}kB {count:>6} " + figures(timing))

    started = time.perf_counter()
    seed_runs(user, team, args.rows, offset=30)
    seed_templates(team, args.rows)
    seed_models(team, args.rows, 2, offset=10)
    print(f"\nseeded {args.rows} runs, templates and models in {time.perf_counter() - started:.1f}s")
    with portal_server(workers=1, threads=1) as base:
        session, processes = logged_in_session(base, user.username), server_processes(base)
        for name in lists:
            server_time(session, base + pages[name], 5)
        print(f"{'page (' + str(args.rows) + ' rows)':<22} {'p50':>9} {'p95':>9} {'cpu/req':>9}")
        print(f"{'anchor: /login/':<22} " + figures(server_time(session, base + "/login/", args.requests, processes)))
        for name in lists:
            print(f"{name:<22} " + figures(server_time(session, base + pages[name], args.requests, processes)))


def figures(timing: tuple[float, float, float]) -> str:
    return f"{timing[0]:7.1f}ms {timing[1]:7.1f}ms {timing[2]:7.1f}ms"


if __name__ == "__main__":
    main()
