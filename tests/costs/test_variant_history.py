# ruff: noqa: F811 - fixtures imported from the registry's conftest are used as arguments
"""Serving cost split by the variants as they were on each day: a canary (two versions side by
side for a while, then the new one promoted) is split by the deploy steps' record of what the
endpoint served, not by its current variants (which name the promoted version only); an endpoint
made and changed outside the portal by what the endpoint mirror saw before and after the change."""

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.costs import attribution, selectors
from apps.deployments.following import endpoint_follow_step
from apps.deployments.history import variant_history
from apps.deployments.mirror import Source
from apps.deployments.models import Endpoint, EndpointEvent, EndpointState, Variant
from apps.runs.models import Run, RunStep
from tests.deployments.test_mirror import settle
from tests.registry.conftest import admin, sagemaker_connection, sm  # noqa: F401 - fixtures
from tests.sagemaker_upstream import endpoint_config, package_group, served_model, version_arns

from .factories import add_cost
from .test_versions_and_performance import traffic

pytestmark = pytest.mark.django_db


def at(day, hour=0):
    return datetime.combine(day, time(hour), tzinfo=UTC)


def variant(name, version, weight):
    return {"name": name, "model_name": "churn", "model_version": version, "instance_count": 1, "weight": weight}


def deploy_steps(team, user, endpoint, plan) -> list[RunStep]:
    """The succeeded deploy steps of one rollout run on the local backend; ``plan``: (key, variants, finished) each."""
    run_id = uuid.uuid4()
    run = Run.objects.create(
        id=run_id, team=team, created_by=user, kind="rollout", backend="local", status="succeeded",
        idempotency_key=f"atr-{run_id.hex}", params={"endpoint": endpoint},
    )  # fmt: skip
    return [
        RunStep.objects.create(
            run=run,
            position=position,
            key=key,
            name=key,
            action="deploy",
            status="succeeded",
            params={"endpoint": endpoint, "variants": variants},
            idempotency_key=f"{run_id.hex}-{key}",
            finished_at=finished,
        )  # fmt: skip
        for position, (key, variants, finished) in enumerate(plan)
    ]


@pytest.fixture
def canary(team, ds):
    """churn v1 served alone until 3 days ago; then a canary of v2 beside it; v2 promoted
    (alone) yesterday at noon. The engine's steps, followed by the real endpoint mirror."""
    today = timezone.localdate()
    plan = [
        ("deploy", [variant("v1", "1", 100)], at(today - timedelta(days=10))),
        ("canary", [variant("v1", "1", 90), variant("v2", "2", 10)], at(today - timedelta(days=3))),
        ("promote", [variant("v2", "2", 100)], at(today - timedelta(days=1), 12)),
    ]
    for step in deploy_steps(team, ds, "churn-canary", plan):
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


# --- endpoints made and changed outside the portal -------------------------------------------


@pytest.fixture
def changed_outside(sagemaker_connection, sm, team):
    """An endpoint made with boto3 outside the portal: variant blue serving version 1 of a model
    package on 2 instances, found by the mirror ten days ago. Two days ago at noon someone moved
    blue to version 2 on 1 instance and put version 1 on a new variant green (1 instance), in the
    console; the next sync saw it. Its bill: 8.00 the day before (no requests through the
    gateway), 6.00 the day after (blue 200 requests, green 100)."""
    source = Source(kind="sagemaker", connection=sagemaker_connection)
    name = f"outside-{uuid.uuid4().hex[:6]}"
    group = package_group(sm, versions=2)
    arns = version_arns(sm, group)
    v1 = served_model(sm, f"{name}-v1", package_arn=arns["1"])
    v2 = served_model(sm, f"{name}-v2", package_arn=arns["2"])
    before = endpoint_config(sm, f"{name}-before", [("blue", v1, "ml.m5.large", 2, 1)])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=before)
    settle(source, sm, name)
    after = endpoint_config(
        sm, f"{name}-after", [("blue", v2, "ml.m5.large", 1, 1), ("green", v1, "ml.m5.large", 1, 1)]
    )
    sm.update_endpoint(EndpointName=name, EndpointConfigName=after)
    settle(source, sm, name)
    endpoint = Endpoint.objects.get(source=source.key, name=name)
    # the beat's syncs that saw them ran on those days (here they ran just now)
    today = timezone.localdate()
    assert endpoint.events.filter(kind="found").update(at=at(today - timedelta(days=10))) == 1
    assert endpoint.events.filter(kind="changed").update(at=at(today - timedelta(days=2), 12)) == 1
    assert sorted(endpoint.variants.values_list("name", "model_version")) == [("blue", "2"), ("green", "1")]

    def bill(day, amount):
        add_cost(
            day=day, amount=amount, team=team, endpoint=name, service="serving", backend="sagemaker", source=source.key
        )

    bill(today - timedelta(days=3), "8.00")
    traffic(endpoint, "blue", today - timedelta(days=1), 200, 5)
    traffic(endpoint, "green", today - timedelta(days=1), 100, 5)
    bill(today - timedelta(days=1), "6.00")
    return endpoint


def test_a_change_outside_the_portal_splits_the_days_after_it_only(manager, changed_outside):
    filters = selectors.CostFilters(start=timezone.localdate() - timedelta(days=30), end=timezone.localdate())
    result = attribution.attribute(user=manager, filters=filters)
    serving = {v.version: v.amounts["serving"] for v in result.versions}
    # the day before: blue alone, serving version 1 (8.00); the day after: by requests, blue (now
    # version 2) 4.00 and green (version 1) 2.00. By the current variants, the day before would
    # have been split half and half between versions 2 and 1.
    assert serving == {"1": Decimal("10.00"), "2": Decimal("4.00")}
    assert result.unattributed == 0
    # the hardware table's share: the current variants', only on the days they served as now
    assert result.variants == {
        (changed_outside.name, "blue"): Decimal("4.00"),
        (changed_outside.name, "green"): Decimal("2.00"),
    }


def test_the_history_is_read_in_constant_queries(manager, team, ds, django_assert_num_queries):
    """Endpoints found outside the portal (found, then changed) and one found and then deployed to
    by the portal: the same queries, however many endpoints and records."""
    today = timezone.localdate()

    def found(name, *, changes):
        endpoint = Endpoint.objects.create(
            team=team, backend="local", source="local", name=name, state=EndpointState.IN_SERVICE, discovered=True
        )
        for n in range(changes + 1):
            event = EndpointEvent.objects.create(
                endpoint=endpoint,
                kind=EndpointEvent.Kind.CHANGED if n else EndpointEvent.Kind.FOUND,
                automatic=True,
                message="",
                variants=[variant("a", str(n + 1), 100)],
            )
            EndpointEvent.objects.filter(pk=event.pk).update(at=at(today - timedelta(days=10 - n)))
        return name

    def read(names):
        with django_assert_num_queries(4):  # the user's teams, the endpoints, the deploy steps, the mirror's events
            return variant_history(user=manager, names=names, until=today)

    names = [found("first", changes=1)]
    variant_history(user=manager, names=names, until=today)  # the user's role: read once, kept on the user
    assert [c.variants["a"].model_version for c in read(names)["first"]] == ["1", "2"]

    names += [found(f"outside-{n}", changes=n) for n in range(4)]
    adopted = found("adopted", changes=0)  # then deployed to by the portal, five days ago
    deploy_steps(team, ds, adopted, [("deploy", [variant("a", "7", 100)], at(today - timedelta(days=5)))])
    history = read([*names, adopted])
    assert {name: len(configs) for name, configs in history.items()} == {
        "first": 2,
        **{f"outside-{n}": n + 1 for n in range(4)},
        "adopted": 2,
    }
    assert [(c.since, c.variants["a"].model_version) for c in history["adopted"]] == [
        (at(today - timedelta(days=10)), "1"),
        (at(today - timedelta(days=5)), "7"),
    ]
