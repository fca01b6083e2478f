"""The rollout controller's cost per endpoint as endpoints mid-rollout grow: 10, 100, 1,000.

    .venv/bin/python bench/rollouts.py [--sizes 10,100,1000] [--minutes 30]

Seeds endpoints on the local backend, each serving a baseline and in the
middle of a canary (a rollout run whose deploy step has succeeded and whose
stage is baking, with ``--minutes`` of gateway rollups for both variants), in
a throwaway SQLite database (or DATABASE_URL if set: then it writes there).
Then it runs one controller tick as the beat and the workers do, in this
process: ``runs_claim_due`` hands out every due run, and each is advanced
(``run_advance``: the stage reads its figures, judges the candidate, says
why). It prints the tick's time and, per endpoint, the time and the number of
SQL queries. Flat means the per-endpoint figures do not grow with the number
of endpoints: no query scans every endpoint, every run or every rollup.

Not a test: it asserts nothing.
"""

import argparse
import statistics
import time
from datetime import timedelta

from common import setup_django

BAKE_SECONDS = 3600  # the stage keeps baking through the bench: each tick is a judgement, not a promotion


def seed(user, start: int, stop: int, minutes: int) -> None:
    from django.utils import timezone

    from apps.deployments import services
    from apps.deployments.models import Endpoint, EndpointMinute, EndpointState, Variant
    from apps.deployments.telemetry import BUCKET_FIELDS
    from apps.runs.models import Run, RunStatus, RunStep, StepStatus

    team = user.teams.get()
    now = timezone.now()
    for i in range(start, stop):
        name = f"bench-{i:05d}"
        endpoint = Endpoint.objects.create(
            team=team, backend="local", source="local", name=name, state=EndpointState.IN_SERVICE, weights={"m-v1": 100}
        )
        Variant.objects.create(endpoint=endpoint, name="m-v1", model_name="m", model_version="1")
        run = services.deployment_start(
            user=user,
            endpoint=name,
            model_name="m",
            model_version="2",
            rollout={"strategy": "canary", "percent": 10, "bake_seconds": BAKE_SECONDS},
        )
        # As a worker leaves it once the candidate has joined and the stage has begun.
        RunStep.objects.filter(run=run, key="deploy").update(status=StepStatus.SUCCEEDED, finished_at=now)
        stage = RunStep.objects.get(run=run, key="stage-1")
        RunStep.objects.filter(pk=stage.pk).update(
            status=StepStatus.RUNNING,
            params=stage.inputs,  # what the engine resolves when the step starts
            started_at=now - timedelta(minutes=minutes),
            external_id=f"{name}#{stage.idempotency_key}",
        )
        Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, next_poll_at=now)
        Endpoint.objects.filter(pk=endpoint.pk).update(weights={"m-v1": 90, "m-v2": 10})
        first = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
        EndpointMinute.objects.bulk_create(
            EndpointMinute(
                endpoint=endpoint,
                variant=variant,
                minute=first + timedelta(minutes=m),
                requests=share,
                errors=0,
                latency_ms_sum=share * 12.0,
                model_latency_ms_sum=share * 10.0,
                **{field: (share if field == BUCKET_FIELDS[3] else 0) for field in BUCKET_FIELDS},
            )
            for m in range(minutes)
            for variant, share in (("m-v1", 90), ("m-v2", 10))
        )


def tick() -> tuple[float, list[float], list[int]]:
    """One beat tick and every claimed run advanced: (seconds, ms per run, queries per run)."""
    from django.db import connection

    from apps.runs import engine

    started = time.perf_counter()
    claimed: list[str] = []
    while batch := engine.runs_claim_due():
        claimed += batch
    times, queries = [], []
    connection.force_debug_cursor = True  # count queries (the log is a deque: emptied before each run)
    for run_id in claimed:
        connection.queries_log.clear()
        begun = time.perf_counter()
        engine.run_advance(run_id=run_id)
        times.append((time.perf_counter() - begun) * 1000)
        queries.append(len(connection.queries_log))
    connection.force_debug_cursor = False
    return time.perf_counter() - started, times, queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--minutes", type=int, default=30, help="rollup minutes per variant already recorded")
    args = parser.parse_args()
    setup_django()

    from django.utils import timezone

    from apps.accounts.models import Role
    from apps.accounts.services import team_get_or_create, user_create
    from apps.runs.models import Run, RunStatus, RunStep, StepStatus

    team = team_get_or_create(name="Bench")
    user = user_create(username="bench-ds", password="bench-pw-123", role=Role.DATA_SCIENTIST, teams=[team])
    print(f"{'endpoints':>10} {'tick':>9} {'ms/endpoint p50':>16} {'p95':>7} {'queries/endpoint':>17}  stage says")
    seeded = 0
    for size in (int(s) for s in args.sizes.split(",")):
        seed(user, seeded, size, args.minutes)
        seeded = size
        Run.objects.filter(status=RunStatus.RUNNING).update(next_poll_at=timezone.now())
        tick()  # warm: imports, the backend, the connection
        Run.objects.filter(status=RunStatus.RUNNING).update(next_poll_at=timezone.now())
        seconds, times, queries = tick()
        still = RunStep.objects.filter(key="stage-1", status=StepStatus.RUNNING).count()
        said = RunStep.objects.filter(key="stage-1").values_list("status_message", flat=True).first()
        q = statistics.quantiles(times, n=20)
        print(
            f"{len(times):>10} {seconds:>8.2f}s {statistics.median(times):>13.2f} ms {q[18]:>5.1f} ms "
            f"{statistics.median(queries):>10.0f} (max {max(queries)})  {still} baking: {said[:70]}"
        )


if __name__ == "__main__":
    main()
