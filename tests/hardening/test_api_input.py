"""No input makes the API answer 500: format suffixes, depth bombs, big bodies,
wrong types, huge paginations (issue 15, items 1-3)."""

import json

import pytest

from apps.runs.models import Run

pytestmark = pytest.mark.django_db


def bomb(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/runs.json"),
        ("get", "/api/v1/runs/{run}.json"),
        ("post", "/api/v1/runs/{run}/cancel.json"),
        ("post", "/api/v1/templates/mini/dry-run.json"),
        ("get", "/api/v1/templates/mini.json"),
    ],
)
def test_a_format_suffix_is_never_a_server_error(api, make_run, mini, method, path):
    api.raise_request_exception = False
    run = make_run()
    response = getattr(api, method)(path.format(run=run.pk), {}, format="json")
    assert response.status_code == 404


def test_the_format_query_parameter_still_works(api, make_run):
    run = make_run()
    response = api.get(f"/api/v1/runs/{run.pk}/", {"format": "json"})
    assert response.status_code == 200 and response.json()["id"] == str(run.pk)


@pytest.mark.parametrize("path", ["/api/v1/runs/", "/api/v1/templates/mini/dry-run/"])
def test_a_depth_bomb_is_a_clear_400(api, mini, path):
    api.raise_request_exception = False
    before = Run.objects.count()
    body = '{"kind": "train", "params": {"hyperparameters": {"a": ' + bomb(5000) + "}}}"
    response = api.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested" in json.dumps(response.json())
    assert Run.objects.count() == before


def test_the_anonymous_token_endpoint_refuses_a_depth_bomb(client):
    client.raise_request_exception = False
    response = client.generic("POST", "/api/v1/auth/token/", bomb(5000), content_type="application/json")
    assert response.status_code == 400 and "nested" in json.dumps(response.json())


def test_reasonable_nesting_still_parses(api):
    body = {"kind": "train", "params": {"hyperparameters": {"a": json.loads(bomb(20))}}}
    response = api.post("/api/v1/runs/", body, format="json")
    assert response.status_code == 400  # refused by the training rules, not by the parser
    assert "nested" not in json.dumps(response.json())


def test_a_body_over_the_limit_is_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api.raise_request_exception = False
    body = json.dumps({"kind": "train", "params": {"x": "a" * 5000}})
    response = api.generic("POST", "/api/v1/runs/", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "too large" in response.json()["detail"]


@pytest.mark.parametrize("kind", ["train", "tune"])
@pytest.mark.parametrize("algorithm", [["random_forest"], {"a": 1}])
def test_an_algorithm_of_the_wrong_type_is_a_400_on_that_field(api, train_params, kind, algorithm):
    api.raise_request_exception = False
    params = {**train_params, "algorithm": algorithm}
    if kind == "tune":
        params["search_space"] = {"max_iter": {"type": "int", "low": 10, "high": 20}}
    response = api.post("/api/v1/runs/", {"kind": kind, "params": params}, format="json")
    assert response.status_code == 400
    assert "algorithm" in json.dumps(response.json())


@pytest.mark.parametrize("query", [{"limit": "9" * 30}, {"offset": "9" * 30}, {"limit": "-5"}, {"offset": "x"}])
@pytest.mark.parametrize("path", ["/api/v1/runs/", "/api/v1/templates/", "/api/v1/models/"])
def test_huge_pagination_is_capped(api, make_run, path, query):
    api.raise_request_exception = False
    make_run()
    response = api.get(path, query)
    assert response.status_code == 200


def test_the_limit_is_capped_at_the_maximum(api, make_run):
    from apps.core.pagination import CappedLimitOffsetPagination

    for _ in range(3):
        make_run()
    response = api.get("/api/v1/runs/", {"limit": "9" * 30})
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    assert CappedLimitOffsetPagination.max_limit == 500
