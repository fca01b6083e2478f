"""Databricks costs from the billing system tables (system.billing.usage joined to
system.billing.list_prices through the SQL Statement Execution API), against the in-repo
stand-in over HTTP; the billable-usage download where the workspace has no system tables."""

from datetime import date
from decimal import Decimal

import pytest

from apps.backends.sandbox.databricks.sql import WAREHOUSE_ID
from apps.backends.sandbox.databricks.state import WORKSPACE_ID
from apps.costs.ingestion import cost_sources, costs_ingest
from apps.costs.models import DailyCost

pytestmark = pytest.mark.django_db

BEFORE, AFTER = date(2024, 12, 31), date(2025, 1, 2)  # the stand-in's jobs price changes on 2025-01-01
LATER = date(2025, 3, 1)


@pytest.fixture
def source(databricks_stand_in, databricks_connection):
    # the download's price (dbu_price) is not used where the system tables answer
    connection = databricks_connection("dbx-system-tables", warehouse_id=WAREHOUSE_ID)
    with databricks_stand_in.lock:  # the stand-in is the session's: this test's days only
        kept = [
            u for u in databricks_stand_in.state["usage"] if u["day"] not in (BEFORE.isoformat(), AFTER.isoformat())
        ]
        databricks_stand_in.state["usage"] = kept
    tags = {"team": "alpha", "project": "p", "model": "churn", "run": "r-1"}
    databricks_stand_in.seed_usage(
        [
            {"day": BEFORE.isoformat(), "dbus": 10.0, "tags": tags},
            {"day": AFTER.isoformat(), "dbus": 10.0, "tags": tags},
            {
                "day": AFTER.isoformat(),
                "dbus": 2.0,
                "sku": "SERVERLESS_REAL_TIME_INFERENCE",
                "tags": {"team": "alpha", "endpoint": "churn-live"},
            },
        ]
    )
    (found,) = cost_sources(connection_ids=[connection.pk], local=False)
    return found


def rows(source):
    return sorted(
        DailyCost.objects.filter(source=source.key).values_list(
            "day", "team_tag", "model_name", "run", "endpoint", "service", "amount", "currency"
        )
    )


def test_usage_times_the_list_price_in_force_by_tags_and_endpoint_name(source):
    costs_ingest(source=source, start=BEFORE, end=AFTER, today=LATER)
    jobs = "STANDARD_JOBS_COMPUTE"
    assert rows(source) == [
        (BEFORE, "alpha", "churn", "r-1", "", jobs, Decimal("4.000000"), "USD"),  # 10 DBU × 0.40
        # usage_metadata.endpoint_name: 2 DBU × 0.55
        (AFTER, "alpha", "", "", "churn-live", "SERVERLESS_REAL_TIME_INFERENCE", Decimal("1.100000"), "USD"),
        (AFTER, "alpha", "churn", "r-1", "", jobs, Decimal("5.500000"), "USD"),  # 10 DBU × 0.55
    ]


def test_only_the_connections_workspace_is_read(source, databricks_stand_in):
    """Usage of another workspace of the same account (another connection's) is in the same
    system tables: it is not counted here, so two connections never count it twice."""
    elsewhere = {"day": AFTER.isoformat(), "dbus": 100.0, "tags": {"team": "alpha"}, "workspace_id": "999"}
    databricks_stand_in.seed_usage([elsewhere])
    try:
        costs_ingest(source=source, start=BEFORE, end=AFTER, today=LATER)
    finally:
        with databricks_stand_in.lock:
            databricks_stand_in.state["usage"] = [
                u for u in databricks_stand_in.state["usage"] if u.get("workspace_id") != "999"
            ]
    assert sum(r[6] for r in rows(source)) == Decimal("10.6")  # 4.00 + 1.10 + 5.50, not the other's 55.00


def test_without_system_tables_the_billable_usage_download_is_read(source, databricks_stand_in):
    databricks_stand_in.system_tables = False
    try:
        costs_ingest(source=source, start=BEFORE, end=BEFORE, today=LATER)
    finally:
        databricks_stand_in.system_tables = True
    assert [r[6] for r in rows(source)] == [Decimal("5.000000")]  # 10 DBU × the connection's dbu_price


def test_the_billable_usage_download_counts_the_connections_workspace_only(source, databricks_stand_in):
    """The download is the whole account's: another workspace's rows in it are not this connection's."""
    elsewhere = {"day": BEFORE.isoformat(), "dbus": 100.0, "tags": {"team": "alpha"}, "workspace_id": "999"}
    databricks_stand_in.seed_usage([elsewhere])
    databricks_stand_in.system_tables = False
    try:
        costs_ingest(source=source, start=BEFORE, end=BEFORE, today=LATER)
    finally:
        databricks_stand_in.system_tables = True
        with databricks_stand_in.lock:
            databricks_stand_in.state["usage"] = [
                u for u in databricks_stand_in.state["usage"] if u.get("workspace_id") != "999"
            ]
    assert [r[6] for r in rows(source)] == [Decimal("5.000000")]  # its own 10 DBU, not the other's 100


def test_the_download_is_read_line_by_line_as_csv_reads_a_file():
    """Chunks split anywhere (inside a character, inside a quoted field's newline) give csv the
    same rows as the whole text."""
    import csv
    import io

    from apps.backends.databricks.costs import _lines

    text = 'workspaceId,clusterCustomTags,dbus\r\n1,"{""team"": ""équipe""}",2.5\r\n2,"two\nlines",1\r\n3,x,0'
    whole = list(csv.DictReader(io.StringIO(text, newline="")))
    for chunk in (1, 2, 3, 7, 1 << 20):
        assert list(csv.DictReader(_lines(io.BytesIO(text.encode()), chunk=chunk))) == whole
    assert whole[0]["clusterCustomTags"] == '{"team": "équipe"}' and whole[1]["clusterCustomTags"] == "two\nlines"


def test_the_stand_in_answers_the_real_statement(databricks_stand_in):
    """The statement Atrium sends, as the SDK sends it: one row per day, SKU, tags and endpoint."""
    from apps.backends.databricks.system_billing import STATEMENT

    answer = databricks_stand_in._run(
        STATEMENT,
        [
            {"name": "workspace_id", "value": WORKSPACE_ID, "type": "STRING"},
            {"name": "start_date", "value": "2024-12-31", "type": "DATE"},
            {"name": "end_date", "value": "2024-12-31"},
        ],
        None,
        None,
        None,
    )
    columns, data, _ = answer
    assert [c["name"] for c in columns] == [
        "usage_date",
        "sku_name",
        "custom_tags",
        "job_id",
        "endpoint_name",
        "currency_code",
        "cost",
    ]
    assert all(row[0] == "2024-12-31" for row in data)
