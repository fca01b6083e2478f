"""Endpoints for people and API clients: who sees and changes what, bad input
that makes nothing, lists in a constant number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.services import api_token_create
from apps.deployments.models import Endpoint, EndpointState, Variant
from apps.runs.models import Run

pytestmark = pytest.mark.django_db


def make_endpoint(team, name, variants=("a",), **fields):
    endpoint = Endpoint.objects.create(
        team=team,
        backend="local",
        source="local",
        name=name,
        weights={v: 100 // len(variants) for v in variants},
        **{"state": EndpointState.IN_SERVICE, **fields},
    )
    for variant in variants:
        Variant.objects.create(endpoint=endpoint, name=variant, model_name="iris", model_version="1", target="cpu")
    return endpoint


def api_as(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
    return client


def test_list_shows_only_the_teams_endpoints_in_constant_queries(ds_client, team, other_team):
    make_endpoint(other_team, "their-endpoint")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            page = ds_client.get("/deployments/")
        assert page.status_code == 200
        return len(captured.captured_queries), page.content.decode()

    make_endpoint(team, "ours-1")
    few, html = queries()
    for index in range(2, 8):
        make_endpoint(team, f"ours-{index}", variants=("a", "b"))
    many, html = queries()
    assert few == many
    assert "ours-7" in html and "their-endpoint" not in html


def test_another_teams_endpoint_is_a_404(ds_client, api, other_team):
    theirs = make_endpoint(other_team, "theirs")
    assert ds_client.get(f"/deployments/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/endpoints/{theirs.pk}/").status_code == 404
    assert api.post(f"/api/v1/endpoints/{theirs.pk}/rollback/").status_code == 404


def test_readers_read_but_do_not_change(client, make_user, team):
    endpoint = make_endpoint(team, "ours", variants=("a", "b"))
    for role in (Role.APPROVER, Role.MANAGER):
        reader = make_user(f"reader-{role}", role=role)
        client.force_login(reader)
        page = client.get(f"/deployments/{endpoint.pk}/").content.decode()
        assert "ours" in page and "Delete endpoint" not in page and "Shift traffic" not in page
        api = api_as(reader)
        assert api.get(f"/api/v1/endpoints/{endpoint.pk}/").status_code == 200
        assert (
            api.post(f"/api/v1/endpoints/{endpoint.pk}/traffic/", {"weights": {"a": 100}}, format="json").status_code
            == 403
        )
        assert api.delete(f"/api/v1/endpoints/{endpoint.pk}/").status_code == 403
        body = {"endpoint": "x", "model_name": "iris", "model_version": "1"}
        assert api.post("/api/v1/endpoints/", body, format="json").status_code == 403
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"endpoint": "bad name!", "model_name": "iris", "model_version": "1"}, "endpoint"),
        ({"endpoint": "ok", "model_name": "iris", "model_version": "1", "target": "tpu"}, "target"),
        ({"endpoint": "ok", "model_name": "iris", "model_version": "1", "rollout": {"strategy": "yolo"}}, "rollout"),
        ({"endpoint": "ok", "model_name": "iris", "model_version": "1", "rollout": {"percent": 0}}, "rollout"),
        (
            {"endpoint": "ok", "model_name": "iris", "model_version": "1", "rollout": {"thresholds": {"x": 1}}},
            "rollout",
        ),
        ({"endpoint": "ok", "model_name": "iris", "model_version": "1", "instance_count": 0}, "instance_count"),
        ({"endpoint": "ok", "model_name": "iris", "model_version": "1", "surprise": 1}, "surprise"),
    ],
)
def test_bad_deploy_input_is_a_400_that_makes_nothing(api, body, field):
    answer = api.post("/api/v1/endpoints/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.content.decode()
    assert not Endpoint.objects.exists() and not Run.objects.exists()


def test_a_name_taken_by_another_team_is_refused(api, other_team):
    make_endpoint(other_team, "shared-name")
    answer = api.post(
        "/api/v1/endpoints/", {"endpoint": "shared-name", "model_name": "iris", "model_version": "2"}, format="json"
    )
    assert answer.status_code == 400 and "taken" in answer.content.decode()
    assert not Run.objects.exists()


def test_deploy_starts_a_rollout_run_and_the_endpoint_shows_it(api, ds_client, team):
    endpoint = make_endpoint(team, "served")
    body = {
        "endpoint": "served",
        "model_name": "iris",
        "model_version": "2",
        "rollout": {"strategy": "canary", "percent": 10, "bake_seconds": 60},
    }
    answer = api.post("/api/v1/endpoints/", body, format="json")
    assert answer.status_code == 201, answer.content
    run = Run.objects.get(pk=answer.json()["id"])
    assert [s.key for s in run.steps.order_by("position")] == ["deploy", "stage-1", "promote"]
    stage = run.steps.get(key="stage-1")
    assert stage.inputs["weights"] == {"a": 90, "iris-v2": 10} and stage.inputs["bake_seconds"] == 60

    detail = api.get(f"/api/v1/endpoints/{endpoint.pk}/").json()
    assert detail["rollout"]["run"] == str(run.pk)
    assert [s["key"] for s in detail["rollout"]["stages"]] == ["deploy", "stage-1", "promote"]
    # One rollout at a time.
    again = api.post("/api/v1/endpoints/", {**body, "model_version": "3"}, format="json")
    assert again.status_code == 409
    page = ds_client.get(f"/deployments/{endpoint.pk}/").content.decode()
    assert "Promote now" in page and "Roll back" in page and "Stage 1 of 1: 10% to iris-v2" in page


def test_metrics_window_is_checked(api, team):
    endpoint = make_endpoint(team, "m")
    assert api.get(f"/api/v1/endpoints/{endpoint.pk}/metrics/").status_code == 200
    bad = api.get(f"/api/v1/endpoints/{endpoint.pk}/metrics/?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
    assert bad.status_code == 400
    assert api.get(f"/api/v1/endpoints/{endpoint.pk}/metrics/?from=yesterday").status_code == 400


def test_a_deleted_endpoints_name_can_be_deployed_again(api, team, other_team):
    mine = make_endpoint(team, "again", state=EndpointState.DELETED)
    answer = api.post(
        "/api/v1/endpoints/", {"endpoint": "again", "model_name": "iris", "model_version": "2"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    mine.refresh_from_db()  # the team's own endpoint comes back, with its history
    assert mine.state == EndpointState.CREATING and not mine.variants.exists()
    assert Run.objects.get(pk=answer.json()["id"]).params["endpoint_id"] == str(mine.pk)

    theirs = make_endpoint(other_team, "theirs-once", state=EndpointState.DELETED)
    answer = api.post(
        "/api/v1/endpoints/", {"endpoint": "theirs-once", "model_name": "iris", "model_version": "2"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    theirs.refresh_from_db()  # another team's stays theirs, out of the way
    assert theirs.state == EndpointState.DELETED and theirs.name.startswith("theirs-once~")
    assert Endpoint.objects.get(name="theirs-once").team == team
