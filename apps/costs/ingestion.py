"""Ingestion: each source's bill (``get_costs`` of the local backend and of every
connection) into daily rollups.

Idempotent per source and day: a day read again replaces that day's rows, in
one transaction, never half. A day is read again only while it is not final
(the cloud still calls it an estimate, or it is within ``SETTLE_DAYS`` of
today: bills arrive late), so Cost Explorer, at $0.01 a request, is asked only
for the missing days, one request per run of consecutive missing days. The
network call happens before the transaction, never inside it. A day not
settled that the bill says nothing of yet gets estimates for the source's live
endpoints (instance-hours × the backend's price table), marked as such and
replaced by the bill when it arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team
from apps.backends import registry as backend_registry
from apps.backends.base import CostRecord, Costs, require
from apps.backends.errors import BackendError
from apps.connections.models import Connection
from apps.connections.services import connection_backend
from apps.deployments import selectors as deployment_selectors

from .models import LOCAL_SOURCE, UNTAGGED, CostDay, DailyCost, source_key
from .rollups import rollups_refresh

logger = logging.getLogger(__name__)

SETTLE_DAYS = 2  # Cost Explorer settles in about a day, Databricks in up to 12 hours
MAX_RANGE_DAYS = 400  # one backfill at most (a year and a bit)
# The tags Atrium puts on what it creates (apps/runs/operations/base.py: run_tags), and the
# other names a bill may carry them under.
TAG_KEYS = {
    "team": ("team",),
    "project": ("project",),
    "model_name": ("model", "model_name"),
    "model_version": ("model_version", "version"),
    "endpoint": ("endpoint", "endpoint_name"),
    "run": ("run", "run_id"),
}


@dataclass(frozen=True)
class CostSource:
    """Whose bill: the local backend or a connection."""

    key: str
    backend: str
    label: str
    connection: Connection | None = None


def cost_sources(*, connection_ids: list | None = None, local: bool = True) -> list[CostSource]:
    """The local backend and every connection (or those of ``connection_ids``)."""
    sources = [CostSource(LOCAL_SOURCE, "local", "Local")] if local else []
    connections = Connection.objects.order_by("name")
    if connection_ids is not None:
        connections = connections.filter(pk__in=connection_ids)
    sources += [CostSource(source_key(c.pk), c.kind, c.name, c) for c in connections]
    return sources


@dataclass(frozen=True)
class IngestResult:
    source: str
    requested: list[tuple[date, date]]  # the ranges asked of the backend
    rows: int
    skipped_days: int  # already final: not asked again


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def missing_ranges(days: list[date], final: set[date]) -> list[tuple[date, date]]:
    """Runs of consecutive days not yet final, as (first, last) pairs."""
    ranges: list[list[date]] = []
    for day in days:
        if day in final:
            continue
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(lo, hi) for lo, hi in ranges]


def costs_ingest(
    *, source: CostSource, start: date, end: date, force: bool = False, today: date | None = None
) -> IngestResult:
    """Read ``start``..``end`` (both included, at most today) of one source into the rollups."""
    today = today or timezone.localdate()
    end = min(end, today)
    days = days_between(start, end) if start <= end else []
    final = (
        set()
        if force
        else set(
            CostDay.objects.filter(source=source.key, day__gte=start, day__lte=end, final=True).values_list(
                "day", flat=True
            )
        )
    )
    ranges = missing_ranges(days, final)
    if not ranges:
        return IngestResult(source.key, [], 0, len(days))
    backend = require(_backend(source), Costs)
    teams = dict(Team.objects.values_list("slug", "pk"))
    open_days = ranges[-1][1] > today - timedelta(days=SETTLE_DAYS)
    prices = _serving_prices(source) if open_days else []
    rows = 0
    for lo, hi in ranges:
        records = backend.get_costs(start=lo, end=hi)  # outside any transaction
        records += estimates(records, prices=prices, lo=lo, hi=hi, today=today)
        rows += _replace(source, lo, hi, records, teams=teams, today=today)
    return IngestResult(source.key, ranges, rows, len(days) - sum((hi - lo).days + 1 for lo, hi in ranges))


def _serving_prices(source: CostSource) -> list:
    if source.connection is None:
        return deployment_selectors.serving_prices(backend=source.backend)
    return deployment_selectors.serving_prices(connection_id=source.connection.pk)


def estimates(records: list[CostRecord], *, prices: list, lo: date, hi: date, today: date) -> list[CostRecord]:
    """For each day not settled that the bill says nothing of yet, what the live endpoints cost by
    the price table: instance-hours (24 a day, today's hours so far) × the price of an hour, marked
    as estimates; the bill replaces them when it arrives."""
    billed = {r.day for r in records}
    settled_before = today - timedelta(days=SETTLE_DAYS)
    now = timezone.now()
    out = []
    for day in days_between(lo, hi):
        if day in billed or day <= settled_before:
            continue
        day_start = datetime.combine(day, time.min, tzinfo=UTC)
        day_end = min(day_start + timedelta(days=1), now)
        for price in prices:
            hours = (day_end - max(day_start, price.since)).total_seconds() / 3600
            if hours <= 0:
                continue
            tags = {"team": price.team_slug, "endpoint": price.endpoint, "model": price.model_name}
            tags["model_version"] = price.model_version
            out.append(
                CostRecord(
                    day=day,
                    amount=price.per_hour * hours,
                    currency=price.currency,
                    tags=tags,
                    service=f"serving estimate ({price.variant})",
                    estimate=True,
                )
            )
    return out


def _backend(source: CostSource):
    if source.connection is None:
        return backend_registry.get_backend("local")
    return connection_backend(source.connection)


def _tag(tags: dict[str, str], field: str) -> str:
    return next((str(tags[k]) for k in TAG_KEYS[field] if tags.get(k)), "")


def cost_row(record: CostRecord, *, source: CostSource, teams: dict[str, object]) -> DailyCost:
    tags = record.tags or {}
    team_tag = _tag(tags, "team")
    return DailyCost(
        day=record.day,
        source=source.key,
        connection=source.connection,
        backend=source.backend,
        service=(record.service or "")[:200],
        team_id=teams.get(team_tag),
        team_tag=(team_tag or UNTAGGED)[:100],
        project=(_tag(tags, "project") or UNTAGGED)[:200],
        model_name=_tag(tags, "model_name")[:500],
        model_version=_tag(tags, "model_version")[:50],
        endpoint=_tag(tags, "endpoint")[:100],
        run=_tag(tags, "run")[:64],
        amount=Decimal(str(round(record.amount, 6))),
        currency=(record.currency or "USD")[:10],
        is_estimate=bool(getattr(record, "estimate", False)),
    )


def _replace(source: CostSource, lo: date, hi: date, records: list[CostRecord], *, teams, today: date) -> int:
    """The days lo..hi of ``source`` become exactly ``records``, in one transaction."""
    rows = [cost_row(r, source=source, teams=teams) for r in records if lo <= r.day <= hi]
    estimated = {row.day for row in rows if row.is_estimate}
    counts: dict[date, int] = {}
    for row in rows:
        counts[row.day] = counts.get(row.day, 0) + 1
    settled_before = today - timedelta(days=SETTLE_DAYS)
    with transaction.atomic():
        DailyCost.objects.filter(source=source.key, day__gte=lo, day__lte=hi).delete()
        DailyCost.objects.bulk_create(rows, batch_size=1000)
        rollups_refresh(source=source.key, start=lo, end=hi)  # the dashboard's sums, in the same transaction
        CostDay.objects.filter(source=source.key, day__gte=lo, day__lte=hi).delete()
        CostDay.objects.bulk_create(
            [
                CostDay(
                    source=source.key,
                    connection=source.connection,
                    day=day,
                    rows=counts.get(day, 0),
                    final=day not in estimated and day <= settled_before,
                )
                for day in days_between(lo, hi)
            ]
        )
    return len(rows)


def costs_ingest_all(
    *,
    start: date,
    end: date,
    connection_ids: list | None = None,
    local: bool = True,
    force: bool = False,
    first_start: date | None = None,
) -> tuple[list[IngestResult], dict[str, BackendError]]:
    """Every source (or those asked for); one failing source is logged and the others go on.
    A source never read before starts at ``first_start`` (its history), when given."""
    results, failures = [], {}
    sources = cost_sources(connection_ids=connection_ids, local=local)
    read = set(CostDay.objects.filter(source__in=[s.key for s in sources]).values_list("source", flat=True).distinct())
    for source in sources:
        begin = first_start if first_start is not None and source.key not in read else start
        try:
            results.append(costs_ingest(source=source, start=begin, end=end, force=force))
        except BackendError as exc:
            logger.warning("costs of %s not read: %s", source.label, exc)
            failures[source.label] = exc
    return results, failures
