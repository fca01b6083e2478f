"""Cost per model version: training, tuning, batch and serving spend attributed to the
model version it bought, as far as the bills' tags and the portal's own records tell.

The rules, stated once (the page repeats them):

- a bill row that names a model version (an estimate per variant does) is that version's;
- a row tagged with a run (and no endpoint) is the version the run registered (the registry
  knows which run made each version), or, for a batch run, the version it scored; its kind
  (train, tune, batch) says which column;
- a row tagged with an endpoint is serving: split among the endpoint's variants by the share
  of the gateway's requests each variant served that day; a day without traffic through the
  gateway is split by instance-hours. The variants are those of that day, as the deploy steps
  recorded them (a canary's two versions while it ran, the promoted one after) or, for an
  endpoint made or changed outside the portal, as the endpoint mirror saw them at each change;
  an endpoint with no such record counts its current variants. A variant that served
  requests but whose version is not known keeps its share, unattributed;
- anything else stays unattributed and is shown as a total, never dropped.

Every aggregate is summed in SQL; the splitting reads a bounded number of rows (one per
endpoint, day and variant). A constant number of queries whatever the data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from apps.deployments import history as deployment_history
from apps.deployments import usage as deployment_usage
from apps.registry import selectors as registry_selectors
from apps.runs import selectors as run_selectors

from . import selectors

CATEGORIES = ("training", "tuning", "batch", "serving")
KIND_CATEGORY = {"train": "training", "tune": "tuning", "batch": "batch"}
RULE = (
    "Training, tuning and batch: bill rows tagged with a run, given to the version that run "
    "registered (or scored, for batch). Serving: an endpoint's bill split among its variants as they "
    "were that day, by their share of the gateway's requests (by instance-hours on days without traffic)."
)


@dataclass
class VersionCost:
    model_name: str
    version: str
    url: str = ""
    amounts: dict = field(default_factory=lambda: defaultdict(Decimal))

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), Decimal(0))


@dataclass
class Attribution:
    versions: list[VersionCost]
    variants: dict  # {(endpoint, variant): serving cost}
    facts: list  # the endpoints' variants (deployments' VariantFact)
    unattributed: Decimal


def _add(found: dict, name: str, version: str, category: str, amount) -> None:
    key = (name, version)
    if key not in found:
        found[key] = VersionCost(model_name=name, version=version)
    found[key].amounts[category] += Decimal(amount)


def _split(amount: Decimal, weights: dict[str, float]) -> dict[str, Decimal]:
    total = sum(weights.values())
    if total <= 0:
        return {}
    return {name: amount * Decimal(w) / Decimal(total) for name, w in weights.items() if w > 0}


def attribute(
    *, user, filters: selectors.CostFilters, model_name: str = "", endpoint_costs: dict | None = None
) -> Attribution:
    """Who paid for which model version in the period (of ``model_name`` only, when given).
    ``endpoint_costs``: each endpoint's spend in the period, when the caller has summed it
    already (the dashboard has): then the serving spend of endpoints the portal does not know
    is taken from it rather than summed again."""
    tags = ["model_name", "model_version", "endpoint", "run"]
    rows = selectors.costs_filtered(user=user, filters=filters, columns=tags)
    daily = selectors.costs_filtered(user=user, filters=filters, columns=tags, daily=True)
    found: dict[tuple[str, str], VersionCost] = {}
    unattributed = Decimal(0)

    # 1. runs: training, tuning, batch
    run_rows = rows.filter(endpoint="").exclude(run="")
    if model_name:
        run_rows = run_rows.filter(model_name=model_name)
    by_run = list(
        run_rows.values("run", "model_name", "model_version")
        .annotate(amount=selectors.total())
        .order_by()
        .values_list("run", "model_name", "model_version", "amount")
    )
    run_ids = {run for run, *_ in by_run}
    facts = run_selectors.run_facts(ids=run_ids)
    registered = registry_selectors.versions_of_runs(run_ids=list(facts))
    for run, tag_name, tag_version, amount in by_run:
        fact = facts.get(run)
        category = KIND_CATEGORY.get(fact.kind, "training") if fact else "training"
        if tag_name and tag_version:
            name, version = tag_name, tag_version
        elif run in registered:
            name, version = registered[run]
        elif fact and fact.model_name and fact.model_version:
            name, version = fact.model_name, fact.model_version
        else:
            unattributed += amount
            continue
        _add(found, name, version, category, amount)

    # 2. rows naming a version outright, neither a run's nor an endpoint's
    direct = rows.filter(endpoint="", run="").exclude(model_name="").exclude(model_version="")
    if model_name:
        direct = direct.filter(model_name=model_name)
    for name, version, amount in (
        direct.values("model_name", "model_version")
        .annotate(amount=selectors.total())
        .order_by()
        .values_list("model_name", "model_version", "amount")
    ):
        _add(found, name, version, "training", amount)

    # 3. serving: by the variants' share of the day's requests, the variants as they were that day
    variant_facts = deployment_usage.variant_facts(user=user)
    by_endpoint: dict[str, list] = defaultdict(list)
    for fact in variant_facts:
        by_endpoint[fact.endpoint].append(fact)
    history = deployment_history.variant_history(user=user, names=sorted(by_endpoint), until=filters.end)
    if model_name:
        served = {f.endpoint for f in variant_facts if f.model_name == model_name}
        served |= {
            e
            for e, configs in history.items()
            for c in configs
            for v in c.variants.values()
            if v.model_name == model_name
        }
        variant_facts = [f for f in variant_facts if f.endpoint in served]
        by_endpoint = defaultdict(list, {e: facts for e, facts in by_endpoint.items() if e in served})
    # Per day only the endpoints the portal knows (and rows naming their version): the rest, in one sum
    serving = rows.exclude(endpoint="")
    named = Q(model_name=model_name) if model_name else ~Q(model_version="")
    known = Q(endpoint__in=list(by_endpoint)) | named
    if not model_name and endpoint_costs is None:
        unattributed += serving.exclude(known).aggregate(amount=selectors.total())["amount"]
    elif not model_name:  # the same sum, from the endpoints' totals less their rows naming a version
        named_costs = dict(
            serving.exclude(model_version="").values("endpoint").annotate(amount=selectors.total()).order_by()
            .values_list("endpoint", "amount")
        )  # fmt: skip
        unattributed += sum(
            (amount - named_costs.get(e, 0) for e, amount in endpoint_costs.items() if e not in by_endpoint),
            Decimal(0),
        )
    serving = daily.exclude(endpoint="").filter(known)  # split day by day
    by_day = list(
        serving.values("endpoint", "day", "model_name", "model_version")
        .annotate(amount=selectors.total())
        .order_by()
        .values_list("endpoint", "day", "model_name", "model_version", "amount")
    )
    requests = deployment_usage.variant_daily_requests(
        user=user, start=filters.start, end=filters.end, names=sorted({e for e, *_ in by_day})
    )
    variants: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for endpoint, day, tag_name, tag_version, amount in by_day:
        own = by_endpoint.get(endpoint, [])
        if tag_name and tag_version:  # an estimate of one variant names its version
            if model_name and tag_name != model_name:
                continue
            _add(found, tag_name, tag_version, "serving", amount)
            match = next((f for f in own if (f.model_name, f.model_version) == (tag_name, tag_version)), None)
            if match:
                variants[(endpoint, match.variant)] += amount
            continue
        # the variants that day (the deploy steps' and the mirror's record; without one, the current variants)
        then = deployment_history.variants_on(history.get(endpoint, []), day) or {
            f.variant: (
                deployment_history.ServedVariant(f.model_name, f.model_version, f.instance_count),
                f.instance_count,
            )
            for f in own
        }
        counts = requests.get((endpoint, day), {})
        # by the day's requests when it had some, else by instance-hours; a variant that served
        # requests but whose version is not known keeps its share, as unattributed
        weights = dict(counts) if any(counts.values()) else {name: hours for name, (_, hours) in then.items()}
        shares = _split(Decimal(amount), weights)
        if not shares:
            unattributed += amount
            continue
        current = {f.variant: f for f in own}
        for variant, share in shares.items():
            if variant not in then:
                unattributed += share
                continue
            was = then[variant][0]
            fact = current.get(variant)
            if fact is not None and (fact.model_name, fact.model_version) == (was.model_name, was.model_version):
                variants[(endpoint, variant)] += share  # the hardware table's (current variants)
            if not model_name or was.model_name == model_name:
                _add(found, was.model_name, was.model_version, "serving", share)

    quality = registry_selectors.versions_by_name(user=user, names=sorted({name for name, _ in found}))
    urls = {(q.model_name, q.version): q.url for q in quality}
    versions = sorted(found.values(), key=lambda v: (-v.total, v.model_name, v.version))
    for item in versions:
        item.url = urls.get((item.model_name, item.version), "")
    return Attribution(versions=versions, variants=dict(variants), facts=variant_facts, unattributed=unattributed)
