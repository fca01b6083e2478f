"""The Costs page and API: a manager sees their teams' costs only (another
team's are absent), the charts' data as CSV, cost per 1,000 predictions from
the gateway's rollups, budgets written with an audit record, a constant number
of queries, and a clear 400 for bad input."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.costs.models import Budget

from .factories import add_cost, add_days, make_budget

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


@pytest.fixture
def spend(team, other_team):
    """Alpha's model "churn" and endpoint "churn-live"; Beta's "beta-secret-model"; some untagged spend."""
    first = today() - timedelta(days=9)
    add_days(first=first, days=10, amount=3, team=team, model_name="churn", project="churn")
    add_days(first=first, days=10, amount=2, team=team, endpoint="churn-live", service="serving", backend="sagemaker")
    add_days(first=first, days=10, amount=50, team=other_team, model_name="beta-secret-model")
    add_cost(day=today(), amount=7, team=None)
    add_cost(day=today(), amount=1, team=team, model_name="churn", is_estimate=True)
    return first


def test_dashboard_shows_the_managers_teams_only(manager_client, spend, team):
    make_budget(team=team)
    page = manager_client.get("/costs/").content.decode()
    for chart in ("chart-spend", "chart-budgets", "chart-top-models", "chart-top-endpoints"):
        assert f'data-testid="{chart}"' in page
    assert "chart-per-prediction" not in page  # no gateway traffic: no cost per prediction to draw
    assert "churn" in page and "churn-live" in page
    assert "beta-secret-model" not in page
    assert 'data-testid="cost-total">51' in page  # 10 × (3 + 2) + the estimate; not Beta's, not untagged
    assert "plotly.min.js" in page and "<script>" not in page  # Plotly from static files only, no inline script


def test_admins_see_untagged_spend_as_untagged(client, make_user, spend):
    from apps.accounts.models import Role

    client.force_login(make_user("root", role=Role.ADMIN, teams=[]))
    csv = client.get("/costs/?download=spend&stack=team").content.decode()
    assert "untagged,7.00" in csv and "beta," in csv


def test_each_chart_downloads_as_csv(manager_client, spend):
    response = manager_client.get("/costs/?period=30&stack=backend&download=spend")
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    lines = response.content.decode().splitlines()
    assert lines[0] == "day,backend,cost,estimate"
    assert f"{spend},sagemaker,2.00," in lines
    top = manager_client.get("/costs/?download=top-models").content.decode().splitlines()
    assert top == ["model,cost", "churn,31.00"]
    assert manager_client.get("/costs/?download=nope").status_code == 404


def test_cost_per_1000_predictions_from_the_gateways_rollups(manager_client, manager_api, team, other_team):
    from apps.deployments.models import Endpoint
    from apps.deployments.telemetry import MinuteCounts, minutes_record

    endpoint = Endpoint.objects.create(team=team, backend="sagemaker", source="local", name="churn-live")
    theirs = Endpoint.objects.create(team=other_team, backend="local", source="x", name="beta-live")
    minute = datetime.combine(today(), datetime.min.time(), tzinfo=UTC).replace(hour=1)
    rows = []
    for n in range(4):
        counts = MinuteCounts(endpoint_id=endpoint.pk, variant="a", minute=minute + timedelta(minutes=n))
        for _ in range(1000):
            counts.add(status=200, latency_ms=5, model_latency_ms=4, bytes_in=10, bytes_out=10)
        rows.append(counts)
    other = MinuteCounts(endpoint_id=theirs.pk, variant="a", minute=minute)
    other.add(status=200, latency_ms=5, model_latency_ms=4, bytes_in=1, bytes_out=1)
    minutes_record([*rows, other])
    add_cost(day=today(), amount="2.00", team=team, endpoint="churn-live", service="serving")
    add_cost(day=today(), amount="1.00", team=team, endpoint="idle-endpoint", service="serving")
    add_cost(day=today(), amount="9.00", team=other_team, endpoint="beta-live", service="serving")

    answer = manager_api.get("/api/v1/costs/per-prediction/").json()["results"]
    assert answer == [
        {"endpoint": "churn-live", "cost": "2.00", "requests": 4000, "cost_per_1000": "0.5000", "idle": False},
        {"endpoint": "idle-endpoint", "cost": "1.00", "requests": 0, "cost_per_1000": None, "idle": True},
    ]
    one = manager_api.get("/api/v1/costs/per-prediction/?endpoint=churn-live").json()["results"]
    assert [r["endpoint"] for r in one] == ["churn-live"]
    assert manager_api.get("/api/v1/costs/per-prediction/?endpoint=beta-live").json()["results"] == []
    csv = manager_client.get("/costs/?download=per-prediction").content.decode()
    assert "churn-live,2.00,4000,0.5000," in csv and "idle-endpoint,1.00,0,,idle" in csv and "beta-live" not in csv


def test_api_groups_filters_and_scopes(manager_api, spend):
    answer = manager_api.get(f"/api/v1/costs/?group_by=team,model&start={spend}&granularity=month").json()
    by_model = {}
    for r in answer["results"]:
        by_model[r["model"]] = by_model.get(r["model"], 0) + Decimal(r["amount"])
    assert by_model == {"churn": Decimal("31"), "": Decimal("20")}
    assert {r["period"][8:] for r in answer["results"]} == {"01"}  # months
    assert {r["team"] for r in answer["results"]} == {"alpha"}
    assert answer["group_by"] == ["team", "model"] and answer["granularity"] == "month"
    final = manager_api.get(f"/api/v1/costs/?group_by=model&start={spend}&estimate=exclude").json()["results"]
    assert sum(Decimal(r["amount"]) for r in final) == Decimal("50")
    assert all(r["estimate"] is False for r in final)
    daily = manager_api.get(f"/api/v1/costs/?group_by=backend&start={spend}&backend=sagemaker").json()["results"]
    assert len(daily) == 10 and {r["backend"] for r in daily} == {"sagemaker"}


@pytest.mark.parametrize(
    "query, field",
    [
        ("group_by=colour", "group_by"),
        ("group_by=team,model,service,run", "group_by"),
        ("granularity=week", "granularity"),
        ("estimate=maybe", "estimate"),
        ("start=yesterday", "start"),
        ("start=2026-02-30", "start"),
        ("start=2026-05-02&end=2026-05-01", "end"),
        ("start=2020-01-01&end=2026-01-01", "start"),
        ("team=beta", "team"),
        ("team=no-such-team", "team"),
    ],
)
def test_bad_queries_are_a_clear_400(manager_api, other_team, query, field):
    for path in ("/api/v1/costs/", "/api/v1/costs/per-prediction/"):
        response = manager_api.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.content)
        assert field in response.json()


def test_bad_page_filters_are_a_400_not_a_500(manager_client, other_team):
    assert manager_client.get("/costs/?start=2026-05-02&end=2026-05-01").status_code == 400
    assert manager_client.get("/costs/?start=nope").status_code == 400
    assert manager_client.get(f"/costs/?team={other_team.pk}").status_code == 400


def test_dashboard_queries_are_constant(manager_client, team, other_team, make_user):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get("/costs/?period=90").status_code == 200
        return len(captured.captured_queries)

    add_cost(day=today(), amount=1, team=team, model_name="m0", endpoint="e0")
    make_budget(team=team)
    few = queries()
    for n in range(30):
        add_days(first=today() - timedelta(days=20), days=5, amount=n, team=team, model_name=f"m{n}", endpoint=f"e{n}")
    make_budget(team=team, project="p1")
    make_budget(team=team, project="p2")
    assert queries() == few


def test_budgets_api_for_managers_with_audit(manager_api, team, other_team, api):
    response = manager_api.post(
        "/api/v1/budgets/", {"team": "alpha", "amount": "1500", "thresholds": [80, 50]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["thresholds"] == [50, 80] and body["amount"] == "1500.00" and body["forecast"] == "0.00"
    assert "average of the last 7 days" in body["forecast_method"]
    budget = Budget.objects.get(pk=body["id"])
    assert AuditEvent.objects.filter(action="budget.created", target_id=str(budget.pk)).exists()

    changed = manager_api.patch(f"/api/v1/budgets/{budget.pk}/", {"amount": "2000"}, format="json")
    assert changed.status_code == 200 and changed.json()["amount"] == "2000.00"
    event = AuditEvent.objects.get(action="budget.changed")
    assert event.data["was"]["amount"] == "1500.00" and event.data["amount"] == "2000.00"
    assert [b["id"] for b in manager_api.get("/api/v1/budgets/").json()] == [str(budget.pk)]

    assert api.post("/api/v1/budgets/", {"team": "alpha", "amount": "1"}, format="json").status_code == 403  # a ds
    assert api.get(f"/api/v1/budgets/{budget.pk}/").status_code == 200  # reads it
    assert api.delete(f"/api/v1/budgets/{budget.pk}/").status_code == 403

    theirs = make_budget(team=other_team)
    for method in ("get", "patch", "delete"):
        assert getattr(manager_api, method)(f"/api/v1/budgets/{theirs.pk}/").status_code == 404
    assert manager_api.post("/api/v1/budgets/", {"team": "beta", "amount": "1"}, format="json").status_code == 403

    assert manager_api.delete(f"/api/v1/budgets/{budget.pk}/").status_code == 204
    assert AuditEvent.objects.filter(action="budget.deleted").exists() and not Budget.objects.filter(pk=budget.pk)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"team": "alpha", "amount": "-5"}, "amount"),
        ({"team": "alpha", "amount": "0"}, "amount"),
        ({"team": "alpha", "amount": "lots"}, "amount"),
        ({"team": "alpha"}, "amount"),
        ({"team": "alpha", "amount": "5", "thresholds": [50, 50]}, "thresholds"),
        ({"team": "alpha", "amount": "5", "thresholds": [0]}, "thresholds"),
        ({"team": "alpha", "amount": "5", "thresholds": "80"}, "thresholds"),
        ({"team": "nope", "amount": "5"}, "team"),
        ({"team": "alpha", "amount": "5", "colour": "red"}, "colour"),
    ],
)
def test_bad_budgets_are_a_clear_400_and_make_nothing(manager_api, body, field):
    response = manager_api.post("/api/v1/budgets/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Budget.objects.exists() and not AuditEvent.objects.filter(action__startswith="budget.").exists()


def test_a_second_budget_for_the_same_scope_is_a_400(manager_api, team):
    make_budget(team=team)
    response = manager_api.post("/api/v1/budgets/", {"team": "alpha", "amount": "5"}, format="json")
    assert response.status_code == 400 and "project" in response.json()


def test_backfill_api(manager_api, api, team):
    start, end = today() - timedelta(days=6), today()
    response = manager_api.post("/api/v1/costs/backfill/", {"start": str(start), "end": str(end)}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["days"] == 7 and response.json()["local"] is False
    bad = manager_api.post("/api/v1/costs/backfill/", {"start": str(end), "end": str(start)}, format="json")
    assert bad.status_code == 400 and "end" in bad.json()
    future = manager_api.post("/api/v1/costs/backfill/", {"start": str(end), "end": "2999-01-01"}, format="json")
    assert future.status_code == 400
    assert manager_api.post("/api/v1/costs/backfill/", {"start": "x"}, format="json").status_code == 400
    assert api.post("/api/v1/costs/backfill/", {"start": str(start), "end": str(end)}, format="json").status_code == 403


def test_budget_pages(manager_client, team, other_team):
    response = manager_client.post("/costs/budgets/", {"team": str(team.pk), "amount": "100", "thresholds": "50, 90"})
    assert response.status_code == 302
    budget = Budget.objects.get(team=team)
    assert budget.thresholds == [50, 90]
    add_cost(day=today(), amount=60, team=team)
    page = manager_client.get("/costs/budgets/").content.decode()
    assert "Alpha" in page and "60.00" in page
    bad = manager_client.post("/costs/budgets/", {"team": str(other_team.pk), "amount": "100"})
    assert bad.status_code == 400 and Budget.objects.count() == 1
    edit = manager_client.post(f"/costs/budgets/{budget.pk}/", {"amount": "200", "thresholds": "100"})
    assert edit.status_code == 302
    budget.refresh_from_db()
    assert budget.amount == Decimal("200.00") and budget.thresholds == [100]
    assert manager_client.post(f"/costs/budgets/{budget.pk}/delete/").status_code == 302
    assert not Budget.objects.exists()
    assert manager_client.get(f"/costs/budgets/{make_budget(team=other_team).pk}/").status_code == 404


def test_manager_home_shows_spend_against_budget(manager_client, team):
    make_budget(team=team, amount=100)
    add_cost(day=today(), amount=25, team=team)
    page = manager_client.get("/").content.decode()
    assert 'data-panel="costs.budget"' in page and "25.00 of 100.00 USD (25%)" in page


def test_a_repeat_view_comes_from_the_cache_until_a_cost_or_budget_changes(manager_client, team):
    def view():
        with CaptureQueriesContext(connection) as captured:
            page = manager_client.get("/costs/").content.decode()
        return len(captured.captured_queries), page

    add_cost(day=today(), amount=1, team=team, model_name="first-model")
    first, _ = view()
    again, page = view()
    assert again < first and "first-model" in page
    add_cost(day=today(), amount=1, team=team, model_name="second-model")
    assert "second-model" in view()[1]  # a new bill row shows at once
    make_budget(team=team, amount=123)
    assert "123.00" in manager_client.get("/costs/?download=budgets").content.decode()


def test_the_costliest_idle_endpoints_are_listed_and_the_rest_counted(manager_client, team):
    from apps.costs.dashboard import IDLE_SHOWN

    for n in range(IDLE_SHOWN + 5):
        add_cost(day=today(), amount=n + 1, team=team, endpoint=f"quiet-{n:02d}", service="serving")
    page = manager_client.get("/costs/?period=30").content.decode()
    listed = page.split('data-testid="idle-endpoints"')[1].split("</section>")[0]
    assert f"quiet-{IDLE_SHOWN + 4:02d}" in listed and "quiet-00" not in listed  # the costliest first
    assert listed.count("<li>") == IDLE_SHOWN and "And 5 more" in listed
    csv = manager_client.get("/costs/?period=30&download=per-prediction").content.decode()
    assert csv.count(",,idle") == IDLE_SHOWN + 5  # every idle endpoint, in the CSV


def test_the_default_page_is_computed_when_bills_are_read_not_when_first_opened(manager_client, team):
    """After the daily read (ingestion's task ends with the warm-up), the manager's first view of
    /costs/ reads no cost table: its figures were computed by the worker."""
    from apps.costs import dashboard
    from apps.costs.models import DailyCost, ModelCost, ServiceCost

    add_cost(day=today(), amount=4, team=team, model_name="warmed-model")
    assert dashboard.dashboards_warm() == 1  # one manager: one scope
    tables = [m._meta.db_table for m in (DailyCost, ModelCost, ServiceCost)]
    with CaptureQueriesContext(connection) as captured:
        page = manager_client.get("/costs/").content.decode()
    assert "warmed-model" in page
    read = [q["sql"] for q in captured.captured_queries if any(f'"{t}"' in q["sql"] for t in tables)]
    assert all("MAX(" in sql.upper() for sql in read)  # only the cache's version check
    with CaptureQueriesContext(connection) as rewarmed:  # the beat's next warm-up: afresh, not the cached copy
        dashboard.dashboards_warm()
    assert any(f'"{tables[1]}"' in q["sql"] and "SUM(" in q["sql"].upper() for q in rewarmed.captured_queries)


def test_a_cached_page_body_is_one_roles_and_holds_nobodys_csrf_token(manager_client, team, make_user):
    """The body below the heading is cached per computation of the figures and role: a data scientist
    of the team (who may not ask owners to scale down) and a manager read one set of figures, each
    with their own buttons, and the one CSRF token on the page is the viewer's own."""
    from django.test import Client

    from apps.costs import dashboard
    from apps.deployments.models import Endpoint, EndpointState

    Endpoint.objects.create(
        team=team, backend="local", source="local", name="quiet-one", state=EndpointState.IN_SERVICE
    )
    add_cost(day=today(), amount=9, team=team, endpoint="quiet-one", service="serving")
    add_cost(day=today(), amount=8, team=team, endpoint="billed-only", service="serving")  # no such endpoint here
    scientist = Client()
    scientist.force_login(make_user("alpha-reader"))  # a data scientist of Alpha
    for _ in range(2):  # the second view is the cached body, for each of them
        reader, manager = scientist.get("/costs/").content.decode(), manager_client.get("/costs/").content.decode()
        assert "quiet-one" in reader and "quiet-one" in manager and "{#" not in manager and "#}" not in manager
        assert 'data-testid="ask-owners"' not in reader and '<form id="ask-owners"' not in reader
        assert 'data-testid="ask-owners"' in manager and manager.count('<form id="ask-owners"') == 1
        assert manager.count('data-testid="ask-owners"') == 1  # quiet-one's; billed-only has no owners here
        assert "billed-only</strong>" in manager and 'data-testid="not-live"' in manager
        body = manager.split('data-testid="cost-filters"')[1].split('<form id="ask-owners"')[0]
        assert "csrfmiddlewaretoken" not in body and "csrfmiddlewaretoken" in manager.split(body)[1]
        token = manager.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        assert token not in reader
    dashboard.dashboards_warm()  # figures computed afresh: a body of their own
    add_cost(day=today(), amount=1, team=team, endpoint="quiet-two", service="serving")
    assert "quiet-two" in manager_client.get("/costs/").content.decode()
