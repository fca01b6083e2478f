"""The Costs page's tables beyond spend: cost per model version, the same model on CPU, GPU
and Inferentia side by side, and performance (latency, throughput, errors across endpoints,
quality over versions). Each a ``dashboard.Table`` (its rows are its CSV)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from apps.core import charts
from apps.deployments import usage as deployment_usage
from apps.registry import selectors as registry_selectors

from . import attribution, selectors
from .tables import Table, cents, money

MAX_QUALITY_MODELS = 10


def _ms(value) -> str:
    return "" if value is None else f"{value:.1f}"


def version_table(result: attribution.Attribution) -> Table:
    columns = ["model", "version", *attribution.CATEGORIES, "total"]
    rows = [
        [v.model_name, v.version, *(cents(v.amounts.get(c, 0)) for c in attribution.CATEGORIES), cents(v.total)]
        for v in result.versions
    ]
    note = attribution.RULE
    if result.unattributed:
        note += f" Not attributable to a version: {cents(result.unattributed)}."
    table = Table("per-version", "Cost per model version", columns, rows, note=note)
    table.links = [v.url for v in result.versions]
    shown = result.versions[:15]
    if shown:
        table.figure = charts.bar_chart(
            categories=[f"{v.model_name} v{v.version}" for v in shown],
            series={c: [money(v.amounts.get(c, 0)) for v in shown] for c in attribution.CATEGORIES},
            title="Cost per model version",
            y_title="cost",
            stacked=True,
        )
    return table


def hardware_table(result: attribution.Attribution, performance: list) -> Table:
    """One row per model version and hardware, for the versions served on more than one kind."""
    by_variant = {(p.endpoint, p.variant): p for p in performance}
    groups: dict[tuple, dict] = defaultdict(lambda: {"cost": Decimal(0), "perf": [], "endpoints": set()})
    for fact in result.facts:
        group = groups[(fact.model_name, fact.model_version, fact.hardware)]
        group["cost"] += result.variants.get((fact.endpoint, fact.variant), Decimal(0))
        group["endpoints"].add(fact.endpoint)
        if (fact.endpoint, fact.variant) in by_variant:
            group["perf"].append(by_variant[(fact.endpoint, fact.variant)])
    kinds: dict[tuple, set] = defaultdict(set)
    for name, version, hardware in groups:
        kinds[(name, version)].add(hardware)
    rows = []
    for (name, version, hardware), group in sorted(groups.items()):
        if len(kinds[(name, version)]) < 2:
            continue
        perf = deployment_usage.performance_merged(group["perf"])
        per_1000 = (group["cost"] / perf.requests * 1000).quantize(Decimal("0.0001")) if perf.requests else None
        rows.append(
            [
                name,
                version,
                deployment_usage.HARDWARE_LABELS.get(hardware, hardware),
                ", ".join(sorted(group["endpoints"])),
                cents(group["cost"]),
                perf.requests,
                per_1000,
                _ms(perf.p95_ms),
            ]
        )
    table = Table(
        "hardware",
        "CPU, GPU and Inferentia side by side",
        ["model", "version", "hardware", "endpoints", "serving cost", "requests", "cost per 1,000", "p95 ms"],
        rows,
        note="Each model version served on more than one kind of hardware: its variants' serving cost "
        "(as attributed above) ÷ their requests through the gateway, and their p95 latency.",
    )
    priced = [r for r in rows if r[6] is not None]
    if priced:
        table.figure = charts.grouped_bar_chart(
            categories=[f"{r[0]} v{r[1]} · {r[2]}" for r in priced],
            series={"cost per 1,000": [float(r[6]) for r in priced], "p95 ms": [float(r[7] or 0) for r in priced]},
            title=table.title,
        )
    return table


def performance_table(endpoints: list) -> Table:
    rows = [
        [
            p.endpoint,
            p.requests,
            f"{p.per_minute:.2f}",
            "" if p.error_rate is None else f"{p.error_rate * 100:.2f}%",
            _ms(p.p50_ms),
            _ms(p.p95_ms),
            _ms(p.p99_ms),
        ]
        for p in sorted(endpoints, key=lambda p: -p.requests)
    ]
    table = Table(
        "performance",
        "Performance across endpoints",
        ["endpoint", "requests", "requests / min", "error rate", "p50 ms", "p95 ms", "p99 ms"],
        rows,
        note="From the gateway's per-minute rollups over the period: latency percentiles from the summed "
        "histograms, throughput averaged over the whole period, error rate = 5xx ÷ requests.",
    )
    shown = [p for p in sorted(endpoints, key=lambda p: -p.requests) if p.requests][:20]
    if shown:
        table.figure = charts.grouped_bar_chart(
            categories=[p.endpoint for p in shown],
            series={
                "p50 ms": [p.p50_ms for p in shown],
                "p95 ms": [p.p95_ms for p in shown],
                "p99 ms": [p.p99_ms for p in shown],
            },
            title="Latency by endpoint",
        )
    return table


def quality_table(*, user, names: list[str]) -> Table:
    """Each model's primary metric over its versions (the registry's), for the models shown above."""
    versions = [
        v
        for v in registry_selectors.versions_by_name(user=user, names=names[:MAX_QUALITY_MODELS])
        if v.metric and v.value is not None
    ]
    table = Table(
        "quality",
        "Model quality over versions",
        ["model", "version", "metric", "better when", "value"],
        [[v.model_name, v.version, v.metric, "higher" if v.direction == "max" else "lower", v.value] for v in versions],
        note="Each model's primary metric as its registry recorded it, for the models with costs or endpoints here.",
    )
    if versions:
        by_model: dict[str, list] = defaultdict(list)
        for v in versions:
            by_model[v.model_name].append(v)
        table.figure = {
            "data": [
                {"type": "scatter", "mode": "lines+markers", "name": f"{m} ({vs[0].metric})"}
                | {"x": [f"v{v.version}" for v in vs], "y": [v.value for v in vs]}
                for m, vs in by_model.items()
            ],
            "layout": {
                **charts.LAYOUT,
                "title": {"text": table.title},
                "xaxis": {"type": "category"},
                "showlegend": True,
            },
        }
    return table


def insight_tables(
    *, user, filters: selectors.CostFilters, model_names: list[str], endpoint_costs: dict | None = None
) -> list[Table]:
    result = attribution.attribute(user=user, filters=filters, endpoint_costs=endpoint_costs)
    endpoints, variants = deployment_usage.variant_performance(user=user, start=filters.start, end=filters.end)
    names = list(dict.fromkeys([*model_names, *(f.model_name for f in result.facts)]))
    return [
        version_table(result),
        hardware_table(result, variants),
        performance_table(endpoints),
        quality_table(user=user, names=names),
    ]
