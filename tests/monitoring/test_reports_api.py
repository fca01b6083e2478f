"""POST /api/v1/drift-reports/ -> a run of kind "drift" -> GET the report: the verdict and
every column's test in the API's shape; bad input is a 400 that leaves nothing made."""

import pytest

from apps.monitoring.models import ColumnResult, DriftReport
from apps.runs.models import Run, RunKind, RunStatus
from tests.monitoring.conftest import api_for, drive, frame

pytestmark = pytest.mark.django_db

COLUMN_KEYS = {
    "method",
    "statistic",
    "threshold",
    "drifted",
    "p_value",
    "effect",
    "n_reference",
    "n_current",
    "missing_share",
    "new_categories",
}


@pytest.fixture
def pair(datasets):
    reference = datasets("reference.parquet", frame(800))
    current = datasets("current.csv", frame(600, shift=1.5, new_city=True))
    return reference, current


def test_a_report_is_computed_by_a_run_and_read_per_column(api, pair):
    reference, current = pair
    body = {"reference": reference, "current": current, "columns": {"income": {"method": "psi", "threshold": 0.2}}}
    response = api.post("/api/v1/drift-reports/", body, format="json")
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["status"] == "pending" and started["columns"] == {}
    run = Run.objects.get(pk=started["run"])
    assert run.kind == RunKind.DRIFT and run.params == {"report_id": started["id"]}

    waiting = api.get(f"/api/v1/drift-reports/{started['id']}/").json()
    assert waiting["status"] == "pending" and waiting["run_status"] == RunStatus.PENDING

    assert drive(run).status == RunStatus.SUCCEEDED, run.status_message
    report = api.get(f"/api/v1/drift-reports/{started['id']}/").json()
    assert report["status"] == "succeeded" and report["run_status"] == "succeeded"
    assert report["dataset_drift"] is True
    assert set(report["columns"]) == {"income", "age", "city"}
    assert all(set(column) >= COLUMN_KEYS for column in report["columns"].values())
    income, age, city = (report["columns"][name] for name in ("income", "age", "city"))
    assert income["method"] == "psi" and income["threshold"] == 0.2 and income["drifted"] is True
    assert income["p_value"] is None and income["statistic"] > 0.2
    assert age["method"] == "ks" and age["drifted"] is False and age["p_value"] > 0.05  # Evidently's default
    assert city["drifted"] is True and city["new_categories"] == ["Accra"]
    assert (income["n_reference"], income["n_current"]) == (800, 600)
    assert report["drift_share"] == pytest.approx(2 / 3)
    # stored per feature, and the run's step says the verdict
    assert ColumnResult.objects.filter(report_id=started["id"]).count() == 3
    assert run.steps.get().status_message == "Dataset drift: 2 of 3 columns drifted."


def _nothing_made(before_runs: int, before_reports: int) -> None:
    assert Run.objects.count() == before_runs and DriftReport.objects.count() == before_reports


BAD_COLUMNS = [
    ({"income": {"method": "nope"}}, "Unknown method 'nope'"),
    ({"income": {"method": "psi", "threshold": -1}}, "above 0"),
    ({"income": {"method": "psi", "threshold": "high"}}, "is a number"),
    ({"income": {"method": "ks", "threshold": 5}}, "between 0 and 1"),
    ({"income": {"method": "psi", "bins": 4}}, "method, a threshold, or both"),
    (["income"], "An object"),
]
BAD_PATHS = [
    ("../../../etc/passwd", "leaves the data root"),
    ("/etc/passwd", "leaves the data root"),
    ("drift/../../outside.parquet", "leaves the data root"),
    ("missing/nothing.parquet", "No file"),
    ("notes.txt", ".parquet or .csv"),
    ("", "under the data root"),
]


def test_bad_methods_and_thresholds_are_a_400_and_nothing_is_made(api, pair):
    before = Run.objects.count(), DriftReport.objects.count()
    for columns, message in BAD_COLUMNS:
        response = api.post(
            "/api/v1/drift-reports/", {"reference": pair[0], "current": pair[1], "columns": columns}, format="json"
        )
        assert response.status_code == 400, columns
        assert message in str(response.json()), (columns, response.json())
    _nothing_made(*before)


def test_paths_stay_under_the_data_root(api, pair):
    before = Run.objects.count(), DriftReport.objects.count()
    for path, message in BAD_PATHS:
        response = api.post("/api/v1/drift-reports/", {"reference": path, "current": pair[1]}, format="json")
        assert response.status_code == 400, path
        assert message in response.json()["reference"][0], (path, response.json())
    _nothing_made(*before)


def test_a_window_of_an_endpoint_the_caller_cannot_see_is_a_400(api, pair, other_team, make_user):
    from apps.deployments.models import Endpoint

    Endpoint.objects.create(team=other_team, backend="local", source="local", name="theirs")
    window = {"endpoint": "theirs", "start": "2026-12-01", "end": "2026-12-02"}
    response = api.post("/api/v1/drift-reports/", {"reference": pair[0], "current": window}, format="json")
    assert response.status_code == 400 and "No endpoint 'theirs'" in response.json()["current"][0]
    backwards = {"endpoint": "theirs", "start": "2026-12-02", "end": "2026-12-01"}
    response = api.post("/api/v1/drift-reports/", {"reference": pair[0], "current": backwards}, format="json")
    assert "ends after it starts" in response.json()["current"][0]


def test_unknown_fields_are_a_400(api, pair):
    response = api.post(
        "/api/v1/drift-reports/", {"reference": pair[0], "current": pair[1], "colums": {}}, format="json"
    )
    assert response.status_code == 400 and "colums" in response.json()


def test_another_team_reads_a_404_and_a_manager_reads_but_cannot_start(api, pair, make_user, other_team, manager):
    started = api.post("/api/v1/drift-reports/", {"reference": pair[0], "current": pair[1]}, format="json").json()
    outsider = api_for(make_user("outsider", teams=[other_team]))
    assert outsider.get(f"/api/v1/drift-reports/{started['id']}/").status_code == 404
    assert outsider.get("/api/v1/drift-reports/not-a-uuid/").status_code == 404
    assert outsider.get("/api/v1/drift-reports/").json()["count"] == 0
    reader = api_for(manager)
    assert reader.get(f"/api/v1/drift-reports/{started['id']}/").status_code == 200
    assert (
        reader.post("/api/v1/drift-reports/", {"reference": pair[0], "current": pair[1]}, format="json").status_code
        == 403
    )


def test_a_method_that_does_not_fit_the_column_fails_the_run_readably(api, pair):
    body = {"reference": pair[0], "current": pair[1], "columns": {"city": {"method": "ks"}}}
    started = api.post("/api/v1/drift-reports/", body, format="json").json()
    run = drive(Run.objects.get(pk=started["run"]))
    assert run.status == RunStatus.FAILED
    report = api.get(f"/api/v1/drift-reports/{started['id']}/").json()
    assert report["status"] == "failed" and "ks does not apply to a categorical column" in report["message"]
    assert "ks does not apply" in run.status_message


def test_the_report_page_shows_labelled_fields_and_the_overlay(client, ds, api, pair):
    started = api.post("/api/v1/drift-reports/", {"reference": pair[0], "current": pair[1]}, format="json").json()
    client.force_login(ds)
    pending = client.get(f"/monitoring/reports/{started['id']}/")
    assert pending.status_code == 200 and b'hx-trigger="every 2s"' in pending.content
    drive(Run.objects.get(pk=started["run"]))
    page = client.get(f"/monitoring/reports/{started['id']}/?feature=city")
    html = page.content.decode()
    assert "Dataset drift" in html and 'data-testid="overlay"' in html and "Accra" in html
    assert "every 2s" not in html and "plotly.min.js" in html
    assert html.index(">city<") < html.index(">age<")  # drifted features first


def test_a_cancelled_run_ends_its_report(api, pair, ds):
    from apps.runs.services import run_cancel

    started = api.post("/api/v1/drift-reports/", {"reference": pair[0], "current": pair[1]}, format="json").json()
    run = Run.objects.get(pk=started["run"])
    run_cancel(run=run, user=ds)
    drive(run)
    assert run.status == RunStatus.CANCELLED
    report = api.get(f"/api/v1/drift-reports/{started['id']}/").json()
    assert report["status"] == "failed" and report["run_status"] == "cancelled"


def test_a_report_on_windows_of_captured_traffic(api, capture, team, ds):
    """Both sides as windows of an endpoint's traffic, one in the string form."""
    import time

    from apps.deployments.models import Endpoint, EndpointState

    Endpoint.objects.create(team=team, backend="local", source="local", name="loans", state=EndpointState.IN_SERVICE)
    day = 86400
    midnight = (time.time() // day - 5) * day  # five days ago, 00:00 UTC
    capture("loans", frame(300), at=midnight + 3600)
    capture("loans", frame(300, shift=2), at=midnight + day + 3600)
    iso = time.strftime("%Y-%m-%d", time.gmtime(midnight))
    following = time.strftime("%Y-%m-%d", time.gmtime(midnight + day))
    after = time.strftime("%Y-%m-%d", time.gmtime(midnight + 2 * day))
    body = {
        "reference": {"endpoint": "loans", "start": iso, "end": following},
        "current": f"endpoint:loans:{following}T00:00:00Z/{after}T00:00:00Z",
    }
    started = api.post("/api/v1/drift-reports/", body, format="json")
    assert started.status_code == 202, started.content
    drive(Run.objects.get(pk=started.json()["run"]))
    report = api.get(f"/api/v1/drift-reports/{started.json()['id']}/").json()
    assert report["status"] == "succeeded", report["message"]
    assert report["rows_reference"] == report["rows_current"] == 300
    assert report["columns"]["income"]["drifted"] and report["current"]["endpoint"] == "loans"


def test_a_drift_run_is_made_by_the_report_service_only(api, pair, make_user, other_team):
    """Its step reads a report by id: neither POST /runs/ nor another run may point one at a report."""
    from apps.monitoring.compute import DRIFT_ACTION
    from apps.runs.services import plan_run_create

    started = api.post("/api/v1/drift-reports/", {"reference": pair[0], "current": pair[1]}, format="json").json()
    refused = api.post(
        "/api/v1/runs/", {"kind": "drift", "backend": "local", "params": {"report_id": started["id"]}}, format="json"
    )
    assert refused.status_code == 400
    outsider = make_user("outsider", teams=[other_team])
    step = {"id": "x", "name": "x", "action": DRIFT_ACTION, "input": {"report_id": started["id"]}}
    stolen = plan_run_create(user=outsider, kind=RunKind.DRIFT, steps=[step], params={}, name="x")
    assert drive(stolen).status == RunStatus.FAILED
    assert "belongs to another run" in stolen.status_message
    assert DriftReport.objects.get(pk=started["id"]).status == "pending"
