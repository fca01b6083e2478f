"""The catalogue's API: browse, dry-run (creates nothing, calls no backend), launch."""

import pytest

from apps.accounts.models import Role
from apps.catalog.models import TemplateVersion
from apps.runs.models import Run, RunEvent, RunStep

from .conftest import minimal_spec

pytestmark = pytest.mark.django_db


def counts():
    return (Run.objects.count(), RunStep.objects.count(), RunEvent.objects.count(), TemplateVersion.objects.count())


@pytest.fixture
def no_backend_calls(monkeypatch):
    """Records every backend the run engine would build. (A spy, not a stand-in:
    it asserts that nothing reaches a backend at all.)"""
    calls = []
    from apps.backends import registry

    real = registry.get_backend

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "get_backend", spy)
    return calls


def test_list_and_detail(api, shipped_catalog):
    response = api.get("/api/v1/templates/", {"kind": "train"})
    assert response.status_code == 200
    slugs = [t["slug"] for t in response.json()["results"]]
    assert slugs == ["tabular-classifier", "tabular-regressor"]
    detail = api.get("/api/v1/templates/tabular-classifier/").json()
    assert detail["current"]["number"] == 1
    assert detail["current"]["spec"]["parameters"]["required"] == ["model_name", "dataset", "algorithm"]
    assert set(detail["backends"]) == {"local", "sagemaker", "databricks"}


def test_search_and_filters(api, shipped_catalog):
    def slugs(**query):
        return [t["slug"] for t in api.get("/api/v1/templates/", query).json()["results"]]

    assert slugs(q="INFERENTIA") == ["realtime-endpoint"]  # case-insensitive, description included
    assert slugs(tag="approval") == ["train-approve-deploy"]
    assert "workspace" in slugs(backend="sagemaker")
    assert slugs(owner="nobody") == []


def test_dry_run_plans_and_creates_nothing(api, shipped_catalog, no_backend_calls):
    before = counts()
    response = api.post(
        "/api/v1/templates/train-approve-deploy/dry-run/",
        {"params": {"model_name": "m1", "endpoint": "ep-1"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    steps = response.json()["steps"]
    assert [s["key"] for s in steps] == ["train", "approve", "deploy"]
    assert steps[0]["inputs"]["hyperparameters"] == {"n_estimators": 50}  # the schema's default applied
    assert steps[0]["inputs"]["dataset"] == "iris"
    assert steps[2]["inputs"]["variants"][0]["model_version"] == "<from step train: model_version>"
    assert counts() == before
    assert no_backend_calls == []


def test_dry_run_checks_step_inputs_it_can_resolve(api, shipped_catalog, settings):
    response = api.post(
        "/api/v1/templates/tabular-classifier/dry-run/",
        {"params": {"model_name": "m", "dataset": "iris", "algorithm": "random_forest", "n_estimators": 5}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["steps"][0]["inputs"]["hyperparameters"] == {"n_estimators": 5}


def test_invalid_parameters_answer_400_per_field_and_create_nothing(api, shipped_catalog, no_backend_calls):
    before = counts()
    response = api.post(
        "/api/v1/templates/tabular-classifier/launch/",
        {"params": {"model_name": "bad name!", "dataset": "mnist", "algorithm": "random_forest", "n_estimators": 0}},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["params"]
    assert set(errors) >= {"model_name", "dataset", "n_estimators"}
    assert counts() == before and no_backend_calls == []


def test_a_backend_the_template_does_not_support_is_refused(api, make_template):
    make_template()
    response = api.post(
        "/api/v1/templates/mini/launch/", {"params": {"model_name": "x"}, "backend": "sagemaker"}, format="json"
    )
    assert response.status_code == 400
    assert "local only" in str(response.json())


def test_hardware_the_backend_does_not_have_is_refused_before_anything_is_made(api, shipped_catalog, no_backend_calls):
    before = counts()
    params = {"endpoint": "ep", "model_name": "m", "model_version": "1", "target": "inferentia"}
    for url in ("/api/v1/templates/realtime-endpoint/dry-run/", "/api/v1/templates/realtime-endpoint/launch/"):
        response = api.post(url, {"params": params}, format="json")
        assert response.status_code == 400
        (why,) = response.json()["steps.deploy"]
        assert why.startswith("variants.0: Local (scikit-learn + MLflow) has no inferentia hardware: choose cpu.")
        assert "for inferentia, use a SageMaker or Databricks connection" in why
    assert (
        api.post(
            "/api/v1/templates/realtime-endpoint/dry-run/", {"params": {**params, "target": "cpu"}}, format="json"
        ).status_code
        == 200
    )
    assert counts() == before and no_backend_calls == []


def test_oversized_parameters_are_refused(api, make_template):
    make_template()
    before = counts()
    response = api.post("/api/v1/templates/mini/dry-run/", {"params": {"model_name": "x" * 70_000}}, format="json")
    assert response.status_code == 400
    assert counts() == before


def test_launch_creates_a_run_with_one_step_per_template_step(api, shipped_catalog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            "/api/v1/templates/train-approve-deploy/launch/",
            {"params": {"model_name": "m1", "endpoint": "ep-1"}},
            format="json",
        )
    assert response.status_code == 201, response.json()
    run = Run.objects.get(pk=response.json()["id"])
    assert run.kind == "template" and run.template_version.number == 1
    assert run.params == {"model_name": "m1", "endpoint": "ep-1", "dataset": "iris", "n_estimators": 50}
    assert list(run.steps.values_list("key", "action", "status")) == [
        ("train", "train", "pending"),
        ("approve", "approval", "pending"),
        ("deploy", "deploy", "pending"),
    ]
    assert len(callbacks) == 1  # the submit task, on commit
    detail = api.get(f"/api/v1/runs/{run.pk}/").json()
    assert [s["key"] for s in detail["steps"]] == ["train", "approve", "deploy"]


def test_a_run_keeps_the_version_it_used(api, make_template, team):
    from apps.catalog.services import spec_parse, template_save

    template = make_template()
    first = api.post("/api/v1/templates/mini/launch/", {"params": {"model_name": "a"}}, format="json").json()
    template_save(spec=spec_parse(minimal_spec(name="Mini 2", owner=team.slug), source="x"), source="x")
    second = api.post("/api/v1/templates/mini/launch/", {"params": {"model_name": "a"}}, format="json").json()
    assert Run.objects.get(pk=first["id"]).template_version.number == 1
    assert Run.objects.get(pk=second["id"]).template_version.number == 2
    assert template.versions.count() == 2


def test_team_private_template_is_404_to_other_teams(api, make_template, other_team, make_user):
    from rest_framework.test import APIClient

    make_template(slug="secret", owner=other_team.slug, visibility="team")
    assert api.get("/api/v1/templates/secret/").status_code == 404
    assert api.post("/api/v1/templates/secret/dry-run/", {"params": {}}, format="json").status_code == 404
    assert api.post("/api/v1/templates/secret/launch/", {"params": {}}, format="json").status_code == 404
    assert "secret" not in [t["slug"] for t in api.get("/api/v1/templates/").json()["results"]]
    insider = make_user("insider", teams=[other_team])
    client = APIClient()
    client.force_authenticate(insider)
    assert client.get("/api/v1/templates/secret/").status_code == 200


def test_manager_cannot_launch_or_dry_run(make_template, make_user):
    from rest_framework.test import APIClient

    make_template()
    client = APIClient()
    client.force_authenticate(make_user("boss", role=Role.MANAGER))
    assert client.get("/api/v1/templates/mini/").status_code == 200  # reading is fine
    before = counts()
    assert (
        client.post("/api/v1/templates/mini/launch/", {"params": {"model_name": "x"}}, format="json").status_code == 403
    )
    assert (
        client.post("/api/v1/templates/mini/dry-run/", {"params": {"model_name": "x"}}, format="json").status_code
        == 403
    )
    assert counts() == before


def test_anonymous_gets_401(client, make_template):
    make_template()
    assert client.get("/api/v1/templates/").status_code in {401, 403}
    assert client.post("/api/v1/templates/mini/launch/", {}, content_type="application/json").status_code in {401, 403}


def test_templates_are_in_the_openapi_schema(api):
    schema = api.get("/api/schema/").content.decode()
    for path in ("/api/v1/templates/", "/api/v1/templates/{slug}/dry-run/", "/api/v1/templates/{slug}/launch/"):
        assert path in schema
    assert "/api/v1/runs/{id}/retry/" in schema
