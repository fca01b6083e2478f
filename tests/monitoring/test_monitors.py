"""Monitors: on an endpoint's traffic captured by the gateway's own writer, a due window is
profiled, compared with the reference profiled once and stored; CRUD through the API
(audited, team-scoped, data scientists configure, managers read); pages read stored
results in a constant number of queries."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.monitoring import compute
from apps.monitoring.models import Monitor, MonitorStatus, ReportStatus
from tests.monitoring.conftest import api_for, frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(team, ds):
    from apps.deployments.models import Endpoint, EndpointState

    return Endpoint.objects.create(
        team=team, backend="local", source="local", name="churn", state=EndpointState.IN_SERVICE, created_by=ds
    )


@pytest.fixture
def traffic(endpoint, capture):
    """Three days ago: traffic as trained; the last hour: income has moved, a new city."""
    now = time.time()
    capture(endpoint.name, frame(600), at=now - 3 * 86400)
    capture(endpoint.name, frame(400, shift=1.5, new_city=True), at=now - 3600)
    start = timezone.now() - timedelta(days=4)
    return {"start": start.isoformat(), "end": (start + timedelta(days=2)).isoformat()}


def test_a_monitor_on_an_endpoint_reports_its_window_from_captured_traffic(api, endpoint, traffic, settings):
    created = api.post(
        "/api/v1/monitors/",
        {"name": "churn inputs", "endpoint": "churn", "reference": traffic, "window_hours": 24, "schedule": "hourly"},
        format="json",
    )
    assert created.status_code == 201, created.content
    monitor = Monitor.objects.get(pk=created.json()["id"])
    assert monitor.source == "endpoint" and monitor.reference_profile is None  # profiled by the worker, not here

    claimed = compute.monitors_claim_due()
    assert [c.monitor_id for c in claimed] == [str(monitor.pk)] and compute.monitors_claim_due() == []  # once
    report = compute.monitor_evaluate(monitor_id=monitor.pk)
    assert report.status == ReportStatus.SUCCEEDED, report.message
    assert report.dataset_drift is True and (report.rows_reference, report.rows_current) == (600, 400)
    columns = {row.column: row for row in report.column_results.all()}
    assert set(columns) == {"income", "age", "city"}
    assert columns["income"].drifted and not columns["age"].drifted
    assert columns["city"].new_categories == ["Accra"]
    assert columns["income"].distribution["kind"] == "numeric" and len(columns["income"].distribution["x"]) == 20

    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.DRIFT and monitor.reference_rows == 600
    assert monitor.next_due_at > timezone.now() + timedelta(minutes=59)

    # the reference is never re-read: with its traffic gone, the next window still compares
    import shutil
    from pathlib import Path

    day = (timezone.now() - timedelta(days=3)).strftime("%Y-%m-%d")
    shutil.rmtree(Path(settings.GATEWAY_CAPTURE_ROOT) / f"endpoint=churn/date={day}")
    again = compute.monitor_evaluate(monitor_id=monitor.pk)
    assert again.status == ReportStatus.SUCCEEDED and again.rows_reference == 600

    over_time = api.get(f"/api/v1/monitors/{monitor.pk}/reports/").json()
    assert over_time["count"] == 2
    assert {r["dataset_drift"] for r in over_time["results"]} == {True}


def test_a_window_without_traffic_says_so(api, endpoint, traffic):
    monitor = Monitor.objects.get(
        pk=api.post(
            "/api/v1/monitors/", {"name": "m", "endpoint": "churn", "reference": traffic}, format="json"
        ).json()["id"]
    )
    report = compute.monitor_evaluate(monitor_id=monitor.pk, now=timezone.now() - timedelta(days=10))
    assert report.status == ReportStatus.NO_DATA
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.NO_DATA


def test_monitor_crud_is_audited_and_checked(api, datasets):
    reference = datasets("train.parquet", frame(300))
    current = datasets("scored.parquet", frame(300, shift=2))
    body = {
        "name": "scored",
        "dataset": current,
        "reference": {"dataset": reference},
        "columns": {"age": {"method": "psi"}},
    }
    created = api.post("/api/v1/monitors/", body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert api.post("/api/v1/monitors/", body, format="json").status_code == 400  # a team's names are unique

    changed = api.patch(f"/api/v1/monitors/{pk}/", {"window_hours": 6, "enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["window_hours"] == 6 and not changed.json()["enabled"]
    assert api.patch(f"/api/v1/monitors/{pk}/", {"reference": {}}, format="json").status_code == 400
    assert api.patch(f"/api/v1/monitors/{pk}/", {"window_hours": 0}, format="json").status_code == 400
    report = compute.monitor_evaluate(monitor_id=pk)
    assert report.status == ReportStatus.SUCCEEDED
    assert report.column_results.get(column="income").drifted
    assert report.column_results.get(column="age").method == "psi"  # the monitor's override

    assert api.delete(f"/api/v1/monitors/{pk}/").status_code == 204
    actions = list(AuditEvent.objects.filter(target_id=pk).order_by("id").values_list("action", flat=True))
    assert actions == ["monitor.create", "monitor.update", "monitor.delete"]


BAD_MONITORS = [
    ({"reference": {"dataset": "../../etc/passwd"}}, "reference"),
    ({"endpoint": "nowhere"}, "endpoint"),
    ({"window_hours": 10_000}, "window_hours"),
    ({"schedule": "weekly"}, "schedule"),
    ({"columns": {"age": {"method": "magic"}}}, "columns.age"),
    ({"dataset": "scored.parquet", "endpoint": "churn"}, "source"),
]


def test_bad_monitors_are_a_400_and_nothing_is_made(api, datasets, endpoint):
    reference = datasets("train.parquet", frame(50))
    for changes, field in BAD_MONITORS:
        body = {"name": "bad", "endpoint": "churn", "reference": {"dataset": reference}, **changes}
        response = api.post("/api/v1/monitors/", body, format="json")
        assert response.status_code == 400 and field in response.json(), response.content
    assert not Monitor.objects.exists() and not AuditEvent.objects.filter(action="monitor.create").exists()


def test_managers_read_data_scientists_of_the_team_configure_others_see_nothing(
    api, datasets, manager, make_user, other_team
):
    reference = datasets("train.parquet", frame(50))
    body = {"name": "m", "dataset": reference, "reference": reference}
    pk = api.post("/api/v1/monitors/", body, format="json").json()["id"]
    reader = api_for(manager)
    assert reader.get(f"/api/v1/monitors/{pk}/").status_code == 200
    assert reader.patch(f"/api/v1/monitors/{pk}/", {"enabled": False}, format="json").status_code == 403
    assert reader.delete(f"/api/v1/monitors/{pk}/").status_code == 403
    assert reader.post("/api/v1/monitors/", {**body, "name": "n"}, format="json").status_code == 403
    outsider = api_for(make_user("outsider", teams=[other_team]))
    assert outsider.get(f"/api/v1/monitors/{pk}/").status_code == 404
    assert outsider.get(f"/api/v1/monitors/{pk}/reports/").status_code == 404
    assert outsider.delete(f"/api/v1/monitors/{pk}/").status_code == 404
    assert outsider.get("/api/v1/monitors/").json()["count"] == 0


def _monitors_with_windows(ds, team, count: int, reference: str):
    from apps.monitoring.services import monitor_create

    made = []
    for index in range(count):
        monitor = monitor_create(
            user=ds, name=f"m{index}-{time.monotonic_ns()}", dataset=reference, reference=reference
        )
        for _ in range(2):
            compute.monitor_evaluate(monitor_id=monitor.pk)
        made.append(monitor)
    return made


def test_pages_read_in_constant_queries(client, ds, team, datasets):
    reference = datasets("train.parquet", frame(60))
    client.force_login(ds)
    _monitors_with_windows(ds, team, 1, reference)

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries("/monitoring/"), queries("/api/v1/monitors/"), queries("/api/v1/drift-reports/")
    monitor = _monitors_with_windows(ds, team, 4, reference)[-1]
    many = queries("/monitoring/"), queries("/api/v1/monitors/"), queries("/api/v1/drift-reports/")
    assert few == many
    page = client.get(f"/monitoring/{monitor.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="drift-share"' in html and 'data-testid="feature-0"' in html
    assert 'data-testid="overlay"' in html and "plotly.min.js" in html
    assert "Not built yet: Drift" not in client.get("/monitoring/").content.decode()


def test_the_create_form_makes_a_monitor_and_a_manager_gets_a_403(client, ds, manager, datasets):
    reference = datasets("train.parquet", frame(30))
    client.force_login(manager)
    assert client.get("/monitoring/new/").status_code == 403
    assert "New monitor" not in client.get("/monitoring/").content.decode()
    client.force_login(ds)
    form = {
        "name": "from the form",
        "dataset": reference,
        "reference_dataset": reference,
        "window_hours": 12,
        "schedule": "daily",
        "columns": "age psi 0.3\nincome wasserstein",
        "alert_on_dataset_drift": "on",
        "alert_feature_windows": 2,
    }
    response = client.post("/monitoring/new/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    monitor = Monitor.objects.get(name="from the form")
    assert monitor.columns == {"age": {"method": "psi", "threshold": 0.3}, "income": {"method": "wasserstein"}}
    bad = client.post("/monitoring/new/", {**form, "name": "x", "reference_dataset": "../../secret.parquet"})
    assert bad.status_code == 400 and "leaves the data root" in bad.content.decode()
    none = client.post("/monitoring/new/", {**form, "name": "y", "reference_dataset": ""}).content.decode()
    assert "Choose a reference: the training data of a model version, a reference dataset" in none
    assert '{"model_version"' not in none and not Monitor.objects.filter(name="y").exists()  # words, not the API's JSON


def test_a_monitor_compares_with_a_model_versions_training_data(api, datasets, team, make_user, other_team):
    """The reference is what the version was trained on (iris here, as the registry records
    it), its features only, profiled once by the worker."""
    from sklearn.datasets import load_iris

    from tests.registry.factories import make_model

    version = make_model(team=team, name="iris-clf", versions=1).versions.get()
    features = load_iris(as_frame=True).data
    shifted = features.assign(**{"petal length (cm)": features["petal length (cm)"] + 3})
    current = datasets("scored.parquet", shifted)
    body = {"name": "iris", "dataset": current, "reference": {"model_version": str(version.pk)}}
    created = api.post("/api/v1/monitors/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["reference_label"] == "training data of iris-clf v1 (iris)"
    report = compute.monitor_evaluate(monitor_id=created.json()["id"])
    assert report.status == ReportStatus.SUCCEEDED, report.message
    drifted = set(report.column_results.filter(drifted=True).values_list("column", flat=True))
    assert drifted == {"petal length (cm)"} and report.rows_reference == 150
    assert "target" not in set(report.column_results.values_list("column", flat=True))

    theirs = make_model(team=other_team, name="beta", versions=1).versions.get()
    refused = api.post(
        "/api/v1/monitors/", {**body, "name": "x", "reference": {"model_version": str(theirs.pk)}}, format="json"
    )
    assert refused.status_code == 400 and "No such model version" in refused.json()["reference"][0]
