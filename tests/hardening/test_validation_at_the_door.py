"""Validate at the door (issue 15, item 8): what was stored and failed later
in the worker, or was silently ignored, is a 400 per field at create and
dry-run time, and no message shows a server path."""

import json

import pytest
from django.conf import settings

from apps.runs.models import Run

pytestmark = pytest.mark.django_db

BATCH = {"model_name": "iris-lr", "model_version": "1"}


def _errors(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()


@pytest.mark.parametrize("kind", ["train", "tune", "batch"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_column", [1]),
        ("target_column", {"a": 1}),
        ("target_column", 5),
        ("instance_type", 5),
        ("instance_type", ["ml.m5.large"]),
        ("instance_type", "x" * 500),
    ],
)
def test_target_column_and_instance_type_of_the_wrong_type_are_a_400_on_that_field(
    api, train_params, kind, field, value
):
    params = {**train_params, field: value}
    if kind == "tune":
        params["search_space"] = {"max_iter": {"type": "int", "low": 10, "high": 20}}
    if kind == "batch":
        params = {**BATCH, "dataset": "iris", field: value}
    errors = _errors(api.post("/api/v1/runs/", {"kind": kind, "params": params}, format="json"))
    assert list(errors["params"]) == [field]
    assert not Run.objects.exists()


def test_a_target_column_as_a_string_is_still_accepted(api, train_params):
    response = api.post(
        "/api/v1/runs/", {"kind": "train", "params": {**train_params, "instance_type": "ml.m5.large"}}, format="json"
    )
    assert response.status_code == 201


BAD_DATASETS = [
    "/Volumes/../../../etc/passwd.csv",
    "s3://bucket/rows.csv",
    "dbfs:/../../etc/passwd.csv",
    "../../../etc/passwd.csv",
    "file:///etc/passwd.csv",
    "/etc/passwd.csv",
    "ftp://example.com/x.csv",
]
BAD_OUTPUTS = ["file:///tmp/x.csv", "s3://bucket/out.csv", "dbfs:/tmp/x.csv", "../x.csv", "a/../../x.csv", "/tmp/x.csv"]


def _no_server_path(errors: dict):
    text = json.dumps(errors)
    assert str(settings.DATA_ROOT) not in text and str(settings.BASE_DIR) not in text


@pytest.mark.parametrize("dataset", BAD_DATASETS)
def test_a_batch_dataset_the_local_backend_cannot_read_is_refused_at_create(api, dataset):
    errors = _errors(
        api.post("/api/v1/runs/", {"kind": "batch", "params": {**BATCH, "dataset": dataset}}, format="json")
    )
    assert list(errors["params"]) == ["dataset"]
    _no_server_path(errors)
    assert not Run.objects.exists()


@pytest.mark.parametrize("output", BAD_OUTPUTS)
def test_a_batch_output_the_local_backend_cannot_write_is_refused_at_create(api, output):
    params = {**BATCH, "dataset": "iris", "output": output}
    errors = _errors(api.post("/api/v1/runs/", {"kind": "batch", "params": params}, format="json"))
    assert list(errors["params"]) == ["output"]
    _no_server_path(errors)


@pytest.mark.parametrize("dataset", BAD_DATASETS)
def test_a_batch_dataset_is_refused_at_dry_run(api, shipped_catalog, dataset):
    body = {"params": {**BATCH, "dataset": dataset}}
    errors = _errors(api.post("/api/v1/templates/batch-inference/dry-run/", body, format="json"))
    assert "dataset" in json.dumps(errors)
    _no_server_path(errors)


def test_a_good_batch_dataset_still_passes_dry_run(api, shipped_catalog):
    body = {"params": {**BATCH, "dataset": "iris", "output": "predictions/x.csv"}}
    response = api.post("/api/v1/templates/batch-inference/dry-run/", body, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", ["/api/v1/templates/mini/dry-run/", "/api/v1/templates/mini/launch/"])
def test_unknown_template_parameters_are_refused(api, mini, path):
    response = api.post(path, {"params": {"model_name": "abc", "sneaky": 1}}, format="json")
    errors = _errors(response)
    assert list(errors["params"]) == ["sneaky"]
    assert not Run.objects.exists()


@pytest.mark.parametrize("name", ["", "   "])
def test_a_blank_name_means_the_default_name_on_both_doors(api, mini, train_params, name):
    run = api.post("/api/v1/runs/", {"kind": "train", "params": train_params, "name": name}, format="json")
    launch = api.post("/api/v1/templates/mini/launch/", {"params": {"model_name": "abc"}, "name": name}, format="json")
    assert run.status_code == launch.status_code == 201, (run.content, launch.content)
    assert run.json()["name"].strip() and launch.json()["name"].strip()


@pytest.mark.parametrize("name", ["x" * 201, ["a"], {"a": 1}])
def test_a_bad_name_is_a_400_on_name_on_both_doors(api, mini, train_params, name):
    run = api.post("/api/v1/runs/", {"kind": "train", "params": train_params, "name": name}, format="json")
    launch = api.post("/api/v1/templates/mini/launch/", {"params": {"model_name": "abc"}, "name": name}, format="json")
    assert list(_errors(run)) == list(_errors(launch)) == ["name"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/runs/", {"kind": "train", "params": {}}),
        ("/api/v1/templates/mini/dry-run/", {"params": {"model_name": "abc"}}),
        ("/api/v1/templates/mini/launch/", {"params": {"model_name": "abc"}}),
    ],
)
def test_an_unknown_field_in_a_request_body_is_a_400_on_it(api, mini, path, body):
    errors = _errors(api.post(path, {**body, "conection": "typo"}, format="json"))
    assert errors == {"conection": ["Unknown field."]}
    assert not Run.objects.exists()
