"""What local training costs: the compute it used, at a rate per CPU-hour.

Local compute is free by default (``DEFAULT_CPU_HOUR_RATE = 0.0``): the
records still say how much was used, at zero. An operator who wants to charge
for the machine sets ``LocalBackend.cpu_hour_rate`` (and ``cost_currency``),
e.g. to what the same CPU-hour costs in their cloud.

A training job counts as one CPU (or ``n_jobs`` CPUs if its hyperparameters
ask for more) for as long as its process ran: from ``started`` to ``finished``
in its ``status.json`` (``updated`` if the process died without a last word).
Time is split across UTC days, so a job that runs over midnight is charged to
both. Records are one per day and tag set (the job's ``spec.json`` tags), with
``service = "local-training"``; ``tags`` filters to jobs carrying all of them.
Endpoint servers are not counted.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ..base import CostRecord
from . import processes

DEFAULT_CPU_HOUR_RATE = 0.0
DEFAULT_CURRENCY = "USD"
SERVICE = "local-training"
SERVING = "local-serving"


def local_costs(
    jobs_dir: Path,
    *,
    start: date,
    end: date,
    tags: dict[str, str] | None = None,
    cpu_hour_rate: float = DEFAULT_CPU_HOUR_RATE,
    gpu_hour_rate: float = DEFAULT_CPU_HOUR_RATE,
    currency: str = DEFAULT_CURRENCY,
) -> list[CostRecord]:
    """Cost records for the days ``start`` to ``end`` (both included)."""
    wanted = tags or {}
    cpu_hours: dict[tuple[date, tuple], float] = defaultdict(float)
    for job_dir in _job_dirs(Path(jobs_dir)):
        spec = processes.read_json(job_dir / "spec.json")
        status = processes.read_json(job_dir / "status.json")
        started = status.get("started")
        ended = status.get("finished") or status.get("updated")
        if not spec or not started or not ended or ended <= started:
            continue
        job_tags = {str(k): str(v) for k, v in (spec.get("tags") or {}).items()}
        if any(job_tags.get(k) != v for k, v in wanted.items()):
            continue
        cpus = _cpus(spec.get("hyperparameters") or {})
        for day, seconds in _split_by_day(started, ended):
            if start <= day <= end:
                cpu_hours[(day, tuple(sorted(job_tags.items())))] += cpus * seconds / 3600
    training = [
        CostRecord(
            day=day, amount=round(hours * cpu_hour_rate, 6), currency=currency, tags=dict(tag_items), service=SERVICE
        )
        for (day, tag_items), hours in sorted(cpu_hours.items())
    ]
    return training + serving_costs(
        jobs_dir, start=start, end=end, tags=wanted, rates=(cpu_hour_rate, gpu_hour_rate), currency=currency
    )


def serving_costs(
    jobs_dir: Path, *, start: date, end: date, tags: dict[str, str], rates: tuple[float, float], currency: str
) -> list[CostRecord]:
    """What the model servers' running time cost, per day and endpoint tags."""
    from .serving import USAGE_DIR

    amounts: dict[tuple[date, tuple], float] = defaultdict(float)
    folder = Path(jobs_dir) / USAGE_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        usage = processes.read_json(path)
        if not usage.get("endpoint"):
            continue
        usage_tags = {**{str(k): str(v) for k, v in (usage.get("tags") or {}).items()}, "endpoint": usage["endpoint"]}
        if any(usage_tags.get(k) != v for k, v in tags.items()):
            continue
        gpus = int(usage.get("gpus") or 0)
        per_hour = rates[1] * gpus if gpus else rates[0]
        for day_text, seconds in (usage.get("days") or {}).items():
            day = date.fromisoformat(day_text)
            if start <= day <= end:
                amounts[(day, tuple(sorted(usage_tags.items())))] += float(seconds) / 3600 * per_hour
    return [
        CostRecord(day=day, amount=round(amount, 6), currency=currency, tags=dict(tag_items), service=SERVING)
        for (day, tag_items), amount in sorted(amounts.items())
    ]


def _job_dirs(jobs_dir: Path):
    if not jobs_dir.is_dir():
        return
    for path in sorted(jobs_dir.iterdir()):
        if path.is_dir() and not path.name.startswith(("_", ".")):  # "_endpoints", "_resources" are not jobs
            yield path


def _cpus(hyperparameters: dict) -> int:
    n_jobs = hyperparameters.get("n_jobs")
    if isinstance(n_jobs, int) and not isinstance(n_jobs, bool):
        if n_jobs < 0:
            return os.cpu_count() or 1
        return max(n_jobs, 1)
    return 1


def _split_by_day(started: float, ended: float):
    """(UTC day, seconds on that day) for the interval."""
    moment = datetime.fromtimestamp(started, UTC)
    finish = datetime.fromtimestamp(ended, UTC)
    while moment < finish:
        midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), UTC)
        until = min(midnight, finish)
        yield moment.date(), (until - moment).total_seconds()
        moment = until
