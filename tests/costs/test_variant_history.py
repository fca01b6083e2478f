"""Serving cost split by the variants as they were on each day: a canary (two versions side by
side for a while, then the new one promoted) is split by the deploy steps' record of what the
endpoint served, not by its current variants (which name the promoted version only)."""

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.costs import attribution, selectors
from apps.deployments.following import endpoint_follow_step
from apps.deployments.models import Endpoint, Variant
from apps.runs.models import Run, RunStep

from .factories import add_cost
from .test_versions_and_performance import traffic

pytestmark = pytest.mark.django_db


def at(day, hour=0):
    return datetime.combine(day, time(hour), tzinfo=UTC)


def variant(name, version, weight):
    return {"name": name, "model_name": "churn", "model_version": version, "instance_count": 1, "weight": weight}


@pytest.fixture
def canary(team, ds):
    """churn v1 served alone until 3 days ago; then a canary of v2 beside it; v2 promoted
    (alone) yesterday at noon. The engine's steps, followed by the real endpoint mirror."""
    today = timezone.localdate()
    run_id = uuid.uuid4()
    run = Run.objects.create(
        id=run_id, team=team, created_by=ds, kind="rollout", backend="local", status="succeeded",
        idempotency_key=f"atr-{run_id.hex}", params={"endpoint": "churn-canary"},
    )  # fmt: skip
    plan = [
        ("deploy", [variant("v1", "1", 100)], at(today - timedelta(days=10))),
        ("canary", [variant("v1", "1", 90), variant("v2", "2", 10)], at(today - timedelta(days=3))),
        ("promote", [variant("v2", "2", 100)], at(today - timedelta(days=1), 12)),
    ]
    for position, (key, variants, finished) in enumerate(plan):
        step = RunStep.objects.create(
            run=run, position=position, key=key, name=key, action="deploy", status="succeeded",
            params={"endpoint": "churn-canary", "variants": variants}, idempotency_key=f"{run_id.hex}-{key}",
            finished_at=finished,
        )  # fmt: skip
        endpoint_follow_step(step)
    endpoint = Endpoint.objects.get(name="churn-canary")
    assert list(Variant.objects.filter(endpoint=endpoint).values_list("name", flat=True)) == ["v2"]  # only the latest
    day = today - timedelta(days=3)
    traffic(endpoint, "v1", day, 300, 5)  # the canary's first day: 300 requests on v1, 100 on v2
    traffic(endpoint, "v2", day, 100, 5)
    add_cost(day=day, amount="8.00", team=team, endpoint="churn-canary", service="serving")
    # no traffic through the gateway: by instance-hours of the variants of that day
    add_cost(day=today - timedelta(days=2), amount="10.00", team=team, endpoint="churn-canary", service="serving")
    add_cost(day=today - timedelta(days=1), amount="6.00", team=team, endpoint="churn-canary", service="serving")
    add_cost(day=today, amount="3.00", team=team, endpoint="churn-canary", service="serving")
    return endpoint


def test_a_canary_is_split_by_the_variants_of_each_day(manager, canary):
    filters = selectors.CostFilters(start=timezone.localdate() - timedelta(days=30), end=timezone.localdate())
    result = attribution.attribute(user=manager, filters=filters)
    serving = {v.version: v.amounts["serving"] for v in result.versions}
    # v1: 6.00 of the canary's first day (its requests), 5.00 the next (half the instance-hours),
    # 2.00 of yesterday (12 of the 36 instance-hours); v2: the rest
    assert serving == {"1": Decimal("13.00"), "2": Decimal("14.00")}
    assert result.unattributed == 0
    # the hardware table's share is the current variant's only (v2), not v1's
    assert result.variants == {("churn-canary", "v2"): Decimal("14.00")}
    # the version page (one model) counts the same
    only = attribution.attribute(user=manager, filters=filters, model_name="churn")
    assert {v.version: v.amounts["serving"] for v in only.versions} == serving


def test_another_teams_history_is_not_read(make_user, other_team, canary):
    stranger = make_user("beta-manager", teams=[other_team])
    filters = selectors.CostFilters(start=timezone.localdate() - timedelta(days=30), end=timezone.localdate())
    assert attribution.attribute(user=stranger, filters=filters).versions == []
