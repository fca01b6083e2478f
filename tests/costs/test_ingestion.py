"""Ingestion from the stand-ins over real HTTP: Cost Explorer (two group-bys,
pagination, only the days not final asked for), Databricks billable usage;
re-ingesting a day replaces it; an estimate is replaced by the bill."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.backends.sandbox.aws import seed_costs
from apps.costs.ingestion import cost_sources, costs_ingest, costs_ingest_all, missing_ranges
from apps.costs.models import UNTAGGED, CostDay, DailyCost

from .conftest import SAGEMAKER_KEY, SAGEMAKER_SECRET

pytestmark = pytest.mark.django_db

# Days no other test asks the stand-ins about (moto answers the same request the same way).
D1, D2, D3 = date(2019, 3, 4), date(2019, 3, 5), date(2019, 3, 6)
LATER = date(2019, 4, 1)  # "today" for these ingestions: every day above has settled, unless estimated


def period(day, groups, estimated=False):
    return {
        "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
        "Total": {},
        "Groups": [
            {
                "Keys": [f"team${team}", f"project${project}"],
                "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
            }
            for team, project, amount in groups
        ],
        "Estimated": estimated,
    }


@pytest.fixture
def sagemaker_source(aws_stand_in, make_user, team):
    from apps.accounts.models import Role
    from apps.connections.services import connection_create

    connection = connection_create(
        user=make_user("conn-admin", role=Role.ADMIN),
        name="aws-costs",
        kind="sagemaker",
        config={
            "region": "us-east-1",
            "endpoint_url": aws_stand_in.url,
            "execution_role_arn": "arn:aws:iam::123456789012:role/atrium-sagemaker",
            "output_s3_uri": "s3://atrium-artifacts/costs",
        },
        secrets={"access_key_id": SAGEMAKER_KEY, "secret_access_key": SAGEMAKER_SECRET},
        teams=[team],
    )
    aws_stand_in.throttle(0)
    (source,) = cost_sources(connection_ids=[connection.pk], local=False)
    return source


def rows(source, day):
    return sorted(
        (r.team_tag, r.project, r.amount, r.is_estimate, r.team_id)
        for r in DailyCost.objects.filter(source=source.key, day=day)
    )


def test_cost_explorer_pages_attribution_and_only_missing_days(aws_stand_in, sagemaker_source, team):
    # D1 on two pages (Cost Explorer's NextPageToken), D2 still an estimate.
    seed_costs(
        aws_stand_in.url,
        [
            {
                "ResultsByTime": [period(D1, [("alpha", "churn", "12.5"), ("nobody-we-know", "x", "1")])],
                "NextPageToken": "page-2",
            },
            {"ResultsByTime": [period(D1, [("", "", "3.25")]), period(D2, [("alpha", "churn", "7")], estimated=True)]},
        ],
    )
    first = costs_ingest(source=sagemaker_source, start=D1, end=D2, today=LATER)
    assert first.requested == [(D1, D2)] and first.rows == 4
    assert rows(sagemaker_source, D1) == [
        ("alpha", "churn", Decimal("12.500000"), False, team.pk),
        ("nobody-we-know", "x", Decimal("1.000000"), False, None),  # a team the portal does not know: kept
        (UNTAGGED, UNTAGGED, Decimal("3.250000"), False, None),  # untagged spend: kept, said so
    ]
    assert rows(sagemaker_source, D2) == [("alpha", "churn", Decimal("7.000000"), True, team.pk)]
    assert dict(CostDay.objects.filter(source=sagemaker_source.key).values_list("day", "final")) == {
        D1: True,
        D2: False,
    }

    # The next read asks only for what is not final: D2 (its bill has arrived) and the new D3.
    seed_costs(
        aws_stand_in.url,
        [{"ResultsByTime": [period(D2, [("alpha", "churn", "7.4")]), period(D3, [("alpha", "fraud", "2")])]}],
    )
    second = costs_ingest(source=sagemaker_source, start=D1, end=D3, today=LATER)
    assert second.requested == [(D2, D3)] and second.skipped_days == 1
    assert rows(sagemaker_source, D2) == [("alpha", "churn", Decimal("7.400000"), False, team.pk)]  # the bill
    assert len(rows(sagemaker_source, D1)) == 3  # untouched

    # Everything final: nothing is asked for (Cost Explorer charges per request), nothing changes.
    count = DailyCost.objects.count()
    assert costs_ingest(source=sagemaker_source, start=D1, end=D3, today=LATER).requested == []
    # Read again on purpose: the days are replaced, not added to.
    again = costs_ingest(source=sagemaker_source, start=D2, end=D3, today=LATER, force=True)
    assert again.requested == [(D2, D3)]
    assert DailyCost.objects.count() == count


def test_recent_days_stay_open_until_the_bill_settles(aws_stand_in, sagemaker_source):
    day = date(2019, 5, 10)
    seed_costs(aws_stand_in.url, [{"ResultsByTime": [period(day, [("alpha", "churn", "1")])]}])
    costs_ingest(source=sagemaker_source, start=day, end=day, today=day + timedelta(days=1))
    assert CostDay.objects.get(source=sagemaker_source.key, day=day).final is False  # may still change


def test_databricks_billable_usage_with_model_and_endpoint_tags(databricks_stand_in, databricks_connection):
    connection = databricks_connection("dbx-costs")
    day = date(2018, 7, 2)
    databricks_stand_in.seed_usage(
        [
            {"day": day.isoformat(), "dbus": 4.0, "tags": {"team": "alpha", "project": "p", "model": "churn"}},
            {
                "day": day.isoformat(),
                "dbus": 2.0,
                "sku": "SERVERLESS_REAL_TIME_INFERENCE",
                "tags": {"team": "alpha", "endpoint": "churn-live", "model": "churn", "model_version": "3"},
            },
            {"day": day.isoformat(), "dbus": 1.0, "tags": {}},
        ]
    )
    (source,) = cost_sources(connection_ids=[connection.pk], local=False)
    costs_ingest(source=source, start=day, end=day, today=LATER)
    got = sorted(
        DailyCost.objects.filter(source=source.key).values_list(
            "team_tag", "model_name", "model_version", "endpoint", "service", "amount", "currency", "backend"
        )
    )
    assert got == [
        ("alpha", "churn", "", "", "STANDARD_JOBS_COMPUTE", Decimal("2.000000"), "USD", "databricks"),
        (
            "alpha",
            "churn",
            "3",
            "churn-live",
            "SERVERLESS_REAL_TIME_INFERENCE",
            Decimal("1.000000"),
            "USD",
            "databricks",
        ),
        (UNTAGGED, "", "", "", "STANDARD_JOBS_COMPUTE", Decimal("0.500000"), "USD", "databricks"),
    ]
    costs_ingest(source=source, start=day, end=day, today=LATER, force=True)
    assert DailyCost.objects.filter(source=source.key).count() == 3  # replaced, not doubled

    # The demo's SANDBOX history (`--demo-billing`), seeded twice as a restarted stand-in would: once.
    from apps.backends.sandbox.demo_billing import demo_rows

    demo_day = date(2017, 6, 30)
    for _ in range(2):
        databricks_stand_in.seed_demo_usage(demo_rows(backend="databricks", days=3, today=demo_day))
    costs_ingest(source=source, start=demo_day - timedelta(days=2), end=demo_day, today=LATER)
    demo = DailyCost.objects.filter(source=source.key, day__lte=demo_day)
    assert demo.count() == 3 * 6  # three days of five tagged workloads and the untagged spend, not twice
    assert demo.filter(endpoint="churn-live", service="SERVERLESS_REAL_TIME_INFERENCE").count() == 3


def test_one_failing_source_does_not_stop_the_others(make_user, team, settings, tmp_path):
    from apps.accounts.models import Role
    from apps.connections.services import connection_create

    connection_create(
        user=make_user("bad-admin", role=Role.ADMIN),
        name="unreachable",
        kind="sagemaker",
        config={
            "region": "us-east-1",
            "endpoint_url": "http://127.0.0.1:9",
            "execution_role_arn": "arn:aws:iam::123456789012:role/x",
            "output_s3_uri": "s3://b/o",
            "max_attempts": "1",
        },
        secrets={"access_key_id": "AKIAUNREACHABLE00000", "secret_access_key": "x"},
        teams=[team],
    )
    settings.LOCAL_JOBS_DIR = tmp_path
    results, failures = costs_ingest_all(start=D1, end=D1)
    assert list(failures) == ["unreachable"]
    assert [r.source for r in results] == ["local"]


def test_missing_ranges_are_runs_of_consecutive_days():
    days = [D1, D2, D3, date(2019, 3, 7)]
    assert missing_ranges(days, {D2}) == [(D1, D1), (D3, date(2019, 3, 7))]
    assert missing_ranges(days, set(days)) == []


def test_the_demo_sandbox_billing_is_read_through_the_real_path(aws_stand_in, sagemaker_source):
    """What `make run` does: the stand-ins serve 90 days of labelled SANDBOX billing
    (``--demo-billing``); a source read for the first time is read from its history."""
    from apps.backends.sandbox.aws.extensions.billing import clear_daily_costs, seed_daily_costs
    from apps.backends.sandbox.demo_billing import demo_rows
    from apps.costs.models import DailyCost

    today = date.today()
    seed_daily_costs(demo_rows(backend="sagemaker", days=30, today=today))
    try:
        results, failures = costs_ingest_all(
            start=today - timedelta(days=7),
            end=today,
            connection_ids=[sagemaker_source.connection.pk],
            local=False,
            first_start=today - timedelta(days=29),
        )
        assert not failures and results[0].requested == [(today - timedelta(days=29), today)]
        demo = DailyCost.objects.filter(source=sagemaker_source.key)
        assert demo.values("day").distinct().count() == 30
        assert set(demo.values_list("team_tag", flat=True)) == {"demo", UNTAGGED}
        assert set(demo.values_list("project", flat=True)) == {"churn", "fraud", "forecasting", UNTAGGED}
        assert set(demo.filter(is_estimate=True).values_list("day", flat=True)) == {today, today - timedelta(days=1)}
        # The next day's read asks only for what is still open.
        results, _ = costs_ingest_all(
            start=today - timedelta(days=7), end=today, connection_ids=[sagemaker_source.connection.pk], local=False
        )
        assert results[0].requested == [(today - timedelta(days=1), today)]
    finally:
        clear_daily_costs()


def test_an_endpoint_not_billed_yet_is_estimated_then_replaced_by_the_bill(aws_stand_in, sagemaker_source, team):
    """The cloud bills late: a live endpoint's days the bill says nothing of are estimated from
    instance-hours × the price table, marked so, and replaced by the bill when it arrives."""
    from apps.deployments.models import Endpoint, EndpointState, Variant

    endpoint = Endpoint.objects.create(
        team=team,
        backend="sagemaker",
        connection=sagemaker_source.connection,
        source=f"connection:{sagemaker_source.connection.pk}",
        name="est-live",
        state=EndpointState.IN_SERVICE,
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(created_at=timezone.now() - timedelta(days=5))
    Variant.objects.create(
        endpoint=endpoint,
        name="a",
        model_name="churn",
        model_version="4",
        instance_type="ml.m5.large",
        instance_count=2,
    )
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    costs_ingest(source=sagemaker_source, start=yesterday, end=today)  # Cost Explorer has nothing yet
    (estimate,) = DailyCost.objects.filter(source=sagemaker_source.key, day=yesterday)
    hourly = 2 * sagemaker_source_price(sagemaker_source, "ml.m5.large")
    assert estimate.is_estimate and estimate.amount == pytest.approx(Decimal(str(round(hourly * 24, 6))))
    assert (estimate.endpoint, estimate.model_name, estimate.model_version, estimate.team_id) == (
        "est-live",
        "churn",
        "4",
        team.pk,
    )

    seed_costs(aws_stand_in.url, [{"ResultsByTime": [period(yesterday, [("alpha", "churn", "5.5")])]}])
    costs_ingest(source=sagemaker_source, start=yesterday, end=today)
    assert rows(sagemaker_source, yesterday) == [("alpha", "churn", Decimal("5.500000"), False, team.pk)]


def sagemaker_source_price(source, instance_type) -> float:
    from apps.connections.services import connection_backend

    return connection_backend(source.connection).hosting_price(instance_type).amount
