"""Cost per model version (runs' and endpoints' bills attributed to the versions they bought),
CPU vs GPU side by side, the Performance section, idle endpoints' scale-down requests, and
the version page's costs (loaded from the costs app: the registry never imports it)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.costs import attribution, selectors
from apps.costs.models import ScaleDownRequest
from apps.deployments.models import Endpoint, EndpointState, Variant
from apps.deployments.telemetry import MinuteCounts, minutes_record
from apps.notifications.models import Notification
from apps.registry.models import ModelVersion
from tests.registry.factories import make_model

from .factories import add_cost

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


def endpoint_with(team, name, variants):
    """``variants``: {variant: (model version, target, instance count)} of model "churn"."""
    endpoint = Endpoint.objects.create(
        team=team, backend="local", source="local", name=name, state=EndpointState.IN_SERVICE
    )
    for variant, (version, target, count) in variants.items():
        Variant.objects.create(
            endpoint=endpoint,
            name=variant,
            model_name="churn",
            model_version=version,
            target=target,
            instance_count=count,
        )
    return endpoint


def traffic(endpoint, variant, day, requests, latency_ms):
    minute = datetime.combine(day, datetime.min.time(), tzinfo=UTC).replace(hour=2)
    counts = MinuteCounts(endpoint_id=endpoint.pk, variant=variant, minute=minute)
    for n in range(requests):
        counts.add(status=500 if n == 0 else 200, latency_ms=latency_ms, model_latency_ms=1, bytes_in=1, bytes_out=1)
    minutes_record([counts])


@pytest.fixture
def served(team, make_run):
    """Model churn: v1 trained by a run (its bill 10.00), v2 tuned (4.00), a batch run scoring v1
    (1.50); an endpoint serving v1 on CPU (variant a) and v2 on GPU (variant b)."""
    model = make_model(team=team, name="churn", versions=2, metric="auc")
    from apps.runs.models import Run

    trained, tuned = make_run(), make_run()
    batch = make_run(params={"model_name": "churn", "model_version": "1", "dataset": "d"})
    Run.objects.filter(pk=tuned.pk).update(kind="tune")
    Run.objects.filter(pk=batch.pk).update(kind="batch")
    ModelVersion.objects.filter(model=model, version="1").update(run=trained)
    ModelVersion.objects.filter(model=model, version="2").update(run=tuned)
    day = today() - timedelta(days=1)
    add_cost(day=day, amount="10.00", team=team, run=str(trained.pk), model_name="churn", service="training")
    add_cost(day=day, amount="4.00", team=team, run=str(tuned.pk), model_name="churn", service="tuning")
    add_cost(day=day, amount="1.50", team=team, run=str(batch.pk), model_name="churn", service="batch")
    add_cost(day=day, amount="0.25", team=team, run="not-a-run", service="training")  # unattributable
    endpoint = endpoint_with(team, "churn-live", {"a": ("1", "cpu", 1), "b": ("2", "gpu", 3)})
    # yesterday: 300 requests on a, 100 on b -> 8.00 split 6.00 / 2.00
    traffic(endpoint, "a", day, 300, 5)
    traffic(endpoint, "b", day, 100, 60)
    add_cost(day=day, amount="8.00", team=team, endpoint="churn-live", service="serving")
    # the day before: no traffic -> 4.00 split by instance count 1 : 3
    add_cost(day=day - timedelta(days=1), amount="4.00", team=team, endpoint="churn-live", service="serving")
    return model, endpoint


def test_run_and_endpoint_costs_are_attributed_to_model_versions(manager, served):
    filters = selectors.CostFilters(start=today() - timedelta(days=30), end=today())
    result = attribution.attribute(user=manager, filters=filters)
    by_version = {(v.model_name, v.version): dict(v.amounts) for v in result.versions}
    assert by_version[("churn", "1")] == {
        "training": Decimal("10.00"),
        "batch": Decimal("1.50"),
        "serving": Decimal("7.00"),  # 6.00 by requests + 1.00 by instance count
    }
    assert by_version[("churn", "2")] == {"tuning": Decimal("4.00"), "serving": Decimal("5.00")}  # 2.00 + 3.00
    assert result.unattributed == Decimal("0.25")
    assert result.variants == {("churn-live", "a"): Decimal("7.00"), ("churn-live", "b"): Decimal("5.00")}
    assert result.versions[0].url.endswith("/1/")  # links the version page


def test_another_teams_costs_and_endpoints_are_absent(make_user, other_team, served):
    from apps.accounts.models import Role

    outsider = make_user("beta-manager", role=Role.MANAGER, teams=[other_team])
    filters = selectors.CostFilters(start=today() - timedelta(days=30), end=today())
    result = attribution.attribute(user=outsider, filters=filters)
    assert result.versions == [] and result.facts == [] and result.unattributed == 0


def test_dashboard_shows_versions_hardware_and_performance(manager_client, served):
    page = manager_client.get("/costs/?period=30")
    assert page.status_code == 200
    html = page.content.decode()
    for section in ("cost-per-version", "cost-hardware", "cost-performance", "cost-quality", "performance-section"):
        assert f'data-testid="{section}"' in html
    versions = manager_client.get("/costs/?period=30&download=per-version").content.decode()
    assert "churn,1,10.00,0.00,1.50,7.00,18.50" in versions
    assert "churn,2,0.00,4.00,0.00,5.00,9.00" in versions
    hardware = manager_client.get("/costs/?period=30&download=hardware").content.decode().splitlines()
    # not the same version on two kinds of hardware: nothing side by side yet
    assert hardware == ['model,version,hardware,endpoints,serving cost,requests,"cost per 1,000",p95 ms']
    perf = manager_client.get("/costs/?period=30&download=performance").content.decode().splitlines()
    assert perf[1].startswith("churn-live,400,") and ",0.50%," in perf[1]  # 2 errors in 400
    quality = manager_client.get("/costs/?period=30&download=quality").content.decode()
    assert "churn,1,auc,higher,0.51" in quality and "churn,2,auc,higher,0.52" in quality


def test_the_same_version_on_cpu_and_gpu_side_by_side(manager_client, team, served):
    model, endpoint = served
    Variant.objects.filter(endpoint=endpoint, name="b").update(model_version="1")
    rows = manager_client.get("/costs/?period=30&download=hardware").content.decode().splitlines()
    assert rows[1:] == [
        "churn,1,CPU,churn-live,7.00,300,23.3333,4.8",  # p95 read from the histogram: 5 ms is in (2, 5]
        "churn,1,GPU,churn-live,5.00,100,50.0000,97.5",  # 60 ms in (50, 100]
    ]


def test_the_version_page_shows_what_the_version_cost(manager_client, ds_client, served):
    model, _ = served
    version = model.versions.get(version="1")
    page = ds_client.get(version.get_absolute_url()).content.decode()
    assert f'hx-get="/costs/versions/{version.pk}/"' in page  # loaded from costs
    panel = manager_client.get(f"/costs/versions/{version.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="version-cost-training">10.00' in panel
    assert 'data-testid="version-cost-serving">7.00' in panel
    assert 'data-testid="version-cost-total"><strong>18.50' in panel
    assert "<html" not in panel
    assert "<html" in ds_client.get(f"/costs/versions/{version.pk}/").content.decode()  # without JS: a page


def test_another_teams_version_costs_are_a_404(make_user, other_team, served):
    from apps.accounts.models import Role

    model, _ = served
    outsider = make_user("beta-ds", role=Role.DATA_SCIENTIST, teams=[other_team])
    from django.test import Client

    client = Client()
    client.force_login(outsider)
    assert client.get(f"/costs/versions/{model.versions.first().pk}/").status_code == 404


def test_asking_an_idle_endpoints_owners_notifies_them_once_a_week(manager_client, team, make_user, ds, served):
    from apps.accounts.models import Role

    idle = endpoint_with(team, "churn-idle", {"a": ("1", "cpu", 2)})
    add_cost(day=today() - timedelta(days=2), amount="30.00", team=team, endpoint="churn-idle", service="serving")
    approver = make_user("approver-1", role=Role.APPROVER)
    page = manager_client.get("/costs/?period=30").content.decode()
    assert 'data-testid="idle-endpoints"' in page and 'data-testid="ask-owners"' in page

    response = manager_client.post("/costs/idle/ask/", {"endpoint": "churn-idle", "next": "period=30"})
    assert response.status_code == 302 and response["Location"].endswith("?period=30")
    told = Notification.objects.filter(url=idle.get_absolute_url())
    assert [n.user for n in told] == [ds]  # the team's data scientists, not its approver
    assert "scale down or delete" in told[0].message and approver not in [n.user for n in told]
    event = AuditEvent.objects.get(action="costs.scale_down_requested")
    assert event.data == {"endpoint": "churn-idle", "notified": 1} and event.team_id == team.pk

    manager_client.post("/costs/idle/ask/", {"endpoint": "churn-idle"})
    assert ScaleDownRequest.objects.count() == 1 and told.count() == 1  # de-duplicated this week
    page = manager_client.get("/costs/?period=30").content.decode()
    assert 'data-testid="asked"' in page


def test_only_managers_ask_and_only_of_their_teams_endpoints(ds_client, manager_client, other_team):
    Endpoint.objects.create(team=other_team, backend="local", source="local", name="beta-idle")
    assert ds_client.post("/costs/idle/ask/", {"endpoint": "beta-idle"}).status_code == 302
    manager_client.post("/costs/idle/ask/", {"endpoint": "beta-idle"})
    assert ds_client.get("/costs/idle/ask/").status_code == 405
    assert not ScaleDownRequest.objects.exists() and not Notification.objects.exists()


def test_dashboard_queries_stay_constant_with_versions_endpoints_and_traffic(manager_client, team, make_run):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get("/costs/?period=30").status_code == 200
        return len(captured.captured_queries)

    make_model(team=team, name="churn", versions=2)
    endpoint_with(team, "e-0", {"a": ("1", "cpu", 1)})
    add_cost(day=today(), amount=1, team=team, endpoint="e-0")
    add_cost(day=today(), amount=1, team=team, run=str(make_run().pk), model_name="churn")
    few = queries()
    for n in range(1, 6):
        make_model(team=team, name=f"m{n}", versions=3)
        e = endpoint_with(team, f"e-{n}", {"a": ("1", "cpu", 1), "b": ("2", "gpu", 1)})
        traffic(e, "a", today(), 3, 5)
        add_cost(day=today() - timedelta(days=n), amount=n, team=team, endpoint=f"e-{n}")
        add_cost(day=today(), amount=n, team=team, run=str(make_run().pk), model_name="churn")
    assert queries() == few


def test_a_removed_variants_share_stays_unattributed(manager, served):
    _, endpoint = served
    traffic(endpoint, "old", today() - timedelta(days=1), 400, 5)  # 400 of 800 requests: half the 8.00
    filters = selectors.CostFilters(start=today() - timedelta(days=30), end=today())
    result = attribution.attribute(user=manager, filters=filters)
    assert result.unattributed == Decimal("4.25")  # 4.00 of serving + the 0.25 of no run
    assert result.variants == {("churn-live", "a"): Decimal("4.00"), ("churn-live", "b"): Decimal("4.00")}


def test_per_version_api(manager_api, served):
    answer = manager_api.get(f"/api/v1/costs/per-version/?start={today() - timedelta(days=30)}").json()
    assert answer["unattributed"] == "0.25" and "registered" in answer["rule"]
    assert answer["results"][0] == {
        "model": "churn",
        "version": "1",
        "training": "10.00",
        "tuning": "0.00",
        "batch": "1.50",
        "serving": "7.00",
        "total": "18.50",
    }
    assert manager_api.get("/api/v1/costs/per-version/?start=nope").status_code == 400


def test_the_dashboards_shortcut_counts_the_same_unattributed_spend(manager, team, served):
    """The page hands attribution the endpoints' totals it summed already: the spend of endpoints
    the portal does not know comes out the same as summed on its own (a row naming a version is
    that version's, not unattributed)."""
    day = today() - timedelta(days=1)
    add_cost(day=day, amount="2.00", team=team, endpoint="mystery-live", service="serving")
    add_cost(day=day, amount="1.00", team=team, endpoint="mystery-live", model_name="churn", model_version="1")
    filters = selectors.CostFilters(start=today() - timedelta(days=30), end=today())
    alone = attribution.attribute(user=manager, filters=filters)
    costs = selectors.endpoint_serving_costs(user=manager, filters=filters)
    shortcut = attribution.attribute(user=manager, filters=filters, endpoint_costs=costs)
    assert shortcut.unattributed == alone.unattributed == Decimal("2.25")  # mystery's 2.00 + the 0.25 of no run
    assert [(v.version, v.total) for v in shortcut.versions] == [(v.version, v.total) for v in alone.versions]
