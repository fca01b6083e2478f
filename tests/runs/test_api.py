import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import ApiToken, Role
from apps.audit.models import AuditEvent
from apps.runs.models import Run, RunStatus

pytestmark = pytest.mark.django_db


def create(api, params, backend="local"):
    return api.post("/api/v1/runs/", {"kind": "train", "backend": backend, "params": params}, format="json")


def test_create_run_answers_201_and_enqueues_submit_on_commit(api, train_params, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = create(api, train_params)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["team"] == "alpha" and body["created_by"] == "ds"
    run = Run.objects.get(pk=body["id"])
    assert run.idempotency_key == f"atr-{run.pk.hex}"
    assert len(callbacks) == 1  # the submit task goes out only once the row is committed


@pytest.mark.parametrize(
    ("change", "field_path"),
    [
        ({"dataset": "no_such_dataset"}, ["dataset"]),
        ({"algorithm": "deep_magic"}, ["algorithm"]),
        ({"hyperparameters": {"max_iter": -3}}, ["hyperparameters", "max_iter"]),
        ({"hyperparameters": {"C": "lots"}}, ["hyperparameters", "C"]),
        ({"hyperparameters": {"n_jobs": 64}}, ["hyperparameters", "n_jobs"]),
        ({"hyperparameters": {"bogus": 1}}, ["hyperparameters", "bogus"]),
        ({"dataset": "missing/file.csv", "target_column": "y", "task": "regression"}, ["dataset"]),
        ({"dataset": "../../../etc/passwd.csv", "target_column": "y", "task": "regression"}, ["dataset"]),
        ({"model_name": "has spaces <script>"}, ["model_name"]),
        ({"algorithm": "linear_regression"}, ["algorithm"]),  # iris is a classification dataset
    ],
)
def test_bad_input_gets_a_400_per_field_and_creates_nothing(api, train_params, change, field_path):
    response = create(api, {**train_params, **change})
    assert response.status_code == 400
    errors = response.json()["params"]
    for key in field_path:
        errors = errors[key]
    assert isinstance(errors, list) and errors[0]
    assert not Run.objects.exists()


def test_out_of_range_forest_is_refused(api, train_params):
    params = {**train_params, "algorithm": "random_forest", "hyperparameters": {"n_estimators": 10**6}}
    response = create(api, params)
    assert response.status_code == 400
    assert "at most" in response.json()["params"]["hyperparameters"]["n_estimators"][0]


@pytest.mark.parametrize("backend", ["sagemaker", "databricks"])
def test_cloud_backends_need_a_connection(api, train_params, backend):
    response = create(api, train_params, backend=backend)
    assert response.status_code == 400
    errors = response.json()
    message = (errors.get("connection") or errors.get("backend"))[0]
    assert "connection" in message
    assert not Run.objects.exists()


def test_malformed_body_is_a_400_not_a_500(api):
    response = api.post("/api/v1/runs/", {"kind": "train", "backend": "local", "params": "nope"}, format="json")
    assert response.status_code == 400
    response = api.post("/api/v1/runs/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_anonymous_and_bad_tokens_are_refused(client, train_params):
    assert client.get("/api/v1/runs/").status_code in (401, 403)
    response = client.get("/api/v1/runs/", HTTP_AUTHORIZATION="Token atr_wrong")
    assert response.status_code in (401, 403)


def test_manager_cannot_start_runs(make_user, train_params):
    from rest_framework.test import APIClient

    manager = make_user("boss", role=Role.MANAGER)
    api = APIClient()
    api.force_authenticate(manager)
    assert create(api, train_params).status_code == 403
    assert api.get("/api/v1/runs/").status_code == 200  # but reads the team's runs
    assert not Run.objects.exists()


def test_another_teams_run_answers_404(api, make_user, other_team, train_params):
    from rest_framework.test import APIClient

    run_id = create(api, train_params).json()["id"]
    outsider = make_user("outsider", teams=[other_team])
    other = APIClient()
    other.force_authenticate(outsider)
    assert other.get(f"/api/v1/runs/{run_id}/").status_code == 404
    assert other.post(f"/api/v1/runs/{run_id}/cancel/").status_code == 404
    assert other.get("/api/v1/runs/").json()["results"] == []
    admin = make_user("root", role=Role.ADMIN, teams=[])
    other.force_authenticate(admin)
    assert other.get(f"/api/v1/runs/{run_id}/").status_code == 200  # admins see every team


def test_detail_shows_status_events_and_outputs(api, train_params):
    run_id = create(api, train_params).json()["id"]
    body = api.get(f"/api/v1/runs/{run_id}/").json()
    assert body["status"] == "pending"
    assert body["events"][0]["to_status"] == "pending"
    assert body["outputs"] == {}


def test_cancel_a_pending_run(api, train_params):
    run_id = create(api, train_params).json()["id"]
    response = api.post(f"/api/v1/runs/{run_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = api.post(f"/api/v1/runs/{run_id}/cancel/")
    assert again.status_code == 200  # cancelling a cancelled run is a no-op
    cancels = AuditEvent.objects.filter(action="run.cancel", target_id=run_id)
    assert list(cancels.values_list("actor_name", "team__slug")) == [("ds", "alpha")]  # once, by whom, in which team


def test_cancel_a_finished_run_is_a_clear_400(api, train_params):
    run_id = create(api, train_params).json()["id"]
    Run.objects.filter(pk=run_id).update(status=RunStatus.SUCCEEDED)
    response = api.post(f"/api/v1/runs/{run_id}/cancel/")
    assert response.status_code == 400
    assert "cannot be cancelled" in response.json()["status"][0]


def test_list_filters_and_constant_queries(api, ds, make_user, train_params):
    for _ in range(3):
        create(api, train_params)
    colleague = make_user("colleague")
    Run.objects.filter(pk=Run.objects.first().pk).update(created_by=colleague, status=RunStatus.FAILED)

    def count_queries(url):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = count_queries("/api/v1/runs/")
    for _ in range(10):
        create(api, train_params)
    assert count_queries("/api/v1/runs/") == few
    assert api.get("/api/v1/runs/?status=failed").json()["count"] == 1
    assert api.get("/api/v1/runs/?mine=true").json()["count"] == 12
    assert api.get("/api/v1/runs/?backend=local&kind=train").json()["count"] == 13


def test_token_exchange_stores_only_a_hash(client, ds):
    response = client.post(
        "/api/v1/auth/token/", {"username": "ds", "password": "pw-Secret-123"}, content_type="application/json"
    )
    assert response.status_code == 201
    key = response.json()["token"]
    assert not ApiToken.objects.filter(key_hash=key).exists()
    assert ApiToken.objects.filter(key_hash=ApiToken.hash_key(key), user=ds).exists()
    runs = client.get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Token {key}")
    assert runs.status_code == 200


def test_token_exchange_with_a_wrong_password_is_a_400(client, ds):
    response = client.post(
        "/api/v1/auth/token/", {"username": "ds", "password": "nope"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_openapi_schema_lists_the_runs_api(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/runs/", "/api/v1/runs/{id}/", "/api/v1/runs/{id}/cancel/", "/api/v1/auth/token/"} <= set(paths)


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("deploy", {"endpoint": "bad name!", "variants": []}, "endpoint"),
        ("deploy", {"endpoint": "ep", "variants": []}, "variants"),
        ("deploy", {"endpoint": "ep", "variants": [{"name": "a"}]}, "variants.0"),
        (
            "deploy",
            {
                "endpoint": "ep",
                "variants": [
                    {"name": "a", "model_name": "m", "model_version": "1", "instance_type": "CPU", "weight": 70},
                    {"name": "b", "model_name": "m", "model_version": "2", "instance_type": "CPU", "weight": 20},
                ],
            },
            "weights",
        ),
        ("traffic", {"endpoint": "ep", "weights": {"a": 90, "b": 20}}, "weights"),
        ("traffic", {"endpoint": "ep", "weights": {"a": -10, "b": 110}}, "weights"),
        ("provision", {"resource": "workspace", "name": "no spaces please"}, "name"),
        ("teardown", {}, "resource_id"),
    ],
)
def test_bad_operation_params_are_refused(api, kind, params, field):
    response = api.post("/api/v1/runs/", {"kind": kind, "backend": "local", "params": params}, format="json")
    assert response.status_code == 400
    assert field in response.json()["params"]
    assert not Run.objects.exists()


def test_a_started_deploy_cannot_be_cancelled_but_a_pending_one_can(api):
    params = {
        "endpoint": "ep",
        "variants": [{"name": "a", "model_name": "m", "model_version": "1", "instance_type": "CPU"}],
    }
    first = api.post("/api/v1/runs/", {"kind": "deploy", "params": params}, format="json").json()
    second = api.post("/api/v1/runs/", {"kind": "deploy", "params": params}, format="json").json()
    assert first["name"] == "Deploy endpoint ep"
    Run.objects.filter(pk=first["id"]).update(status=RunStatus.RUNNING)
    response = api.post(f"/api/v1/runs/{first['id']}/cancel/")
    assert response.status_code == 400 and "cannot be cancelled" in response.json()["status"][0]
    assert api.post(f"/api/v1/runs/{second['id']}/cancel/").json()["status"] == "cancelled"


def test_a_deploy_on_hardware_the_backend_lacks_is_a_clear_400(api):
    variant = {"name": "a", "model_name": "m", "model_version": "1", "target": "gpu"}
    response = api.post(
        "/api/v1/runs/", {"kind": "deploy", "params": {"endpoint": "ep", "variants": [variant]}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["params"] == {
        "variants.0": [
            "Local (scikit-learn + MLflow) has no gpu hardware: choose cpu. No CUDA GPU is visible on this machine "
            "(nvidia-smi lists none), so the local backend serves on its CPU only. Choose cpu, or deploy through a "
            "SageMaker or Databricks connection for a GPU."
        ]
    }
    assert not Run.objects.exists()
