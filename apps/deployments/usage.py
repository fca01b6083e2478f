"""Reads for the Costs section: what each endpoint's variants serve and run on, how many
requests each variant served per day, and how each behaved over a period (latency
percentiles, throughput, errors), all summed in SQL over the gateway's per-minute rollups.
Team-scoped: a person reads only their teams' endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Sum
from django.db.models.functions import TruncDate

from .hardware import endpoint_hardware
from .models import BUCKET_FIELDS, EndpointMinute
from .selectors import endpoints_visible
from .telemetry import percentile

HARDWARE_LABELS = {"cpu": "CPU", "gpu": "GPU", "inferentia": "AWS Inferentia"}
GPU_FAMILIES = ("p", "g")


def hardware_kind(*, target: str, instance_type: str) -> str:
    """cpu | gpu | inferentia: the variant's target when it was asked that way, else read from
    the instance type's family (``ml.inf2.xlarge`` → inferentia, ``ml.g5.xlarge`` → gpu)."""
    if target in HARDWARE_LABELS:
        return target
    parts = instance_type.lower().split(".")
    family = parts[1] if len(parts) >= 3 else (parts[0] if parts and parts[0] else "")
    if family.startswith(("inf", "trn")):
        return "inferentia"
    if family.startswith(GPU_FAMILIES) or "gpu" in instance_type.lower():
        return "gpu"
    return "cpu"


def _window(start: date, end: date) -> tuple[datetime, datetime]:
    """Whole UTC days, both included."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    return since, datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)


@dataclass(frozen=True)
class VariantFact:
    endpoint: str
    endpoint_id: str
    endpoint_url: str
    team_id: int
    variant: str
    model_name: str
    model_version: str
    hardware: str  # cpu | gpu | inferentia
    instance_type: str
    instance_count: int
    per_hour: float | None  # the backend's price table; None: unknown


def variant_facts(*, user, names: list[str] | None = None) -> list[VariantFact]:
    """The variants of the endpoints the person may see (deleted ones too: their bills remain),
    with what they serve and run on. Two queries; prices from configuration, no network."""
    endpoints = endpoints_visible(user=user).prefetch_related("variants").order_by("name")
    if names is not None:
        endpoints = endpoints.filter(name__in=names)
    out = []
    backends: dict = {}  # one per connection
    for endpoint in endpoints:
        variants = list(endpoint.variants.all())
        found = endpoint_hardware(endpoint, variants, backends=backends)
        for variant in variants:
            hw = found[variant.name]
            out.append(
                VariantFact(
                    endpoint=endpoint.name,
                    endpoint_id=str(endpoint.pk),
                    endpoint_url=endpoint.get_absolute_url(),
                    team_id=endpoint.team_id,
                    variant=variant.name,
                    model_name=variant.model_name,
                    model_version=variant.model_version,
                    hardware=hardware_kind(target=variant.target, instance_type=hw.instance_type),
                    instance_type=hw.instance_type,
                    instance_count=variant.instance_count,
                    per_hour=hw.per_hour,
                )
            )
    return out


def variant_daily_requests(*, user, start: date, end: date, names: list[str]) -> dict[tuple[str, date], dict[str, int]]:
    """{(endpoint name, UTC day): {variant: requests}} from the rollups, summed in SQL (one query)."""
    if not names:
        return {}
    since, until = _window(start, end)
    rows = (
        EndpointMinute.objects.filter(
            endpoint__in=endpoints_visible(user=user).values("pk"),
            endpoint__name__in=names,
            minute__gte=since,
            minute__lt=until,
        )
        .annotate(day=TruncDate("minute", tzinfo=UTC))
        .values("endpoint__name", "day", "variant")
        .annotate(total=Sum("requests"))
        .order_by()
        .values_list("endpoint__name", "day", "variant", "total")
    )
    out: dict = {}
    for name, day, variant, total in rows:
        out.setdefault((name, day), {})[variant] = total or 0
    return out


@dataclass(frozen=True)
class Performance:
    endpoint: str
    variant: str  # "" for an endpoint's whole
    requests: int
    errors: int
    client_errors: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    seconds: float  # the period's length, for throughput
    buckets: tuple = ()  # the summed latency histogram (merges exactly)
    latency_ms_sum: float = 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def per_minute(self) -> float:
        return self.requests / (self.seconds / 60) if self.seconds else 0.0


def _performance(endpoint, variant, sums: dict, seconds: float) -> Performance:
    buckets = [sums.get(f"s_{name}") or 0 for name in BUCKET_FIELDS]
    requests = sums.get("s_requests") or 0
    return Performance(
        endpoint=endpoint,
        variant=variant,
        requests=requests,
        errors=sums.get("s_errors") or 0,
        client_errors=sums.get("s_client_errors") or 0,
        mean_ms=(sums.get("s_latency_ms_sum") or 0) / requests if requests else None,
        p50_ms=percentile(buckets, 0.50),
        p95_ms=percentile(buckets, 0.95),
        p99_ms=percentile(buckets, 0.99),
        seconds=seconds,
        buckets=tuple(buckets),
        latency_ms_sum=sums.get("s_latency_ms_sum") or 0.0,
    )


def performance_merged(parts: list[Performance], *, endpoint: str = "", variant: str = "") -> Performance:
    """Several variants' figures as one (e.g. every GPU variant of a model): the histograms add up."""
    sums = {
        "s_requests": sum(p.requests for p in parts),
        "s_errors": sum(p.errors for p in parts),
        "s_client_errors": sum(p.client_errors for p in parts),
        "s_latency_ms_sum": sum(p.latency_ms_sum for p in parts),
    }
    for i, name in enumerate(BUCKET_FIELDS):
        sums[f"s_{name}"] = sum(p.buckets[i] for p in parts if p.buckets)
    return _performance(endpoint, variant, sums, max((p.seconds for p in parts), default=0.0))


def variant_performance(*, user, start: date, end: date) -> tuple[list[Performance], list[Performance]]:
    """(each endpoint's, each variant's) latency percentiles (from the summed histogram buckets),
    requests, errors and throughput over the period: one query summed in SQL per variant; an
    endpoint's whole is the sum of its variants' sums (histograms merge exactly)."""
    since, until = _window(start, end)
    summed = ("requests", "errors", "client_errors", "latency_ms_sum", *BUCKET_FIELDS)
    rows = (
        EndpointMinute.objects.filter(
            endpoint__in=endpoints_visible(user=user).values("pk"), minute__gte=since, minute__lt=until
        )
        .values("endpoint__name", "variant")
        .annotate(**{f"s_{name}": Sum(name) for name in summed})
        .order_by("endpoint__name", "variant")
    )
    seconds = (until - since).total_seconds()
    variants, wholes = [], {}
    for row in rows:
        name = row["endpoint__name"]
        variants.append(_performance(name, row["variant"], row, seconds))
        whole = wholes.setdefault(name, {})
        for key in summed:
            whole[f"s_{key}"] = (whole.get(f"s_{key}") or 0) + (row[f"s_{key}"] or 0)
    endpoints = [_performance(name, "", sums, seconds) for name, sums in wholes.items()]
    return endpoints, variants
