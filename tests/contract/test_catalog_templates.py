"""The shipped catalogue templates really work on every backend: launched
through the catalogue API and carried out by the real worker, against the
local backend, the SageMaker stand-in and the Databricks stand-in."""

import uuid

import pytest

from apps.runs.models import Run, RunStatus, StepStatus
from tests.conftest import wait_for_run

from .test_backend_contract import FINAL

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalog(db, team):
    from apps.catalog.services import catalog_load
    from tests.catalog.conftest import SHIPPED

    return {r.template.slug: r.template for r in catalog_load(folder=SHIPPED) if r.template}


def launch(api, target, slug, params) -> Run:
    response = api.post(f"/api/v1/templates/{slug}/launch/", {"params": params, **target.run_target()}, format="json")
    assert response.status_code == 201, response.json()
    return Run.objects.get(pk=response.json()["id"])


def succeeded(run) -> Run:
    wait_for_run(run, FINAL, timeout=180)
    steps = list(run.steps.values_list("key", "status", "status_message"))
    assert run.status == RunStatus.SUCCEEDED, f"{run.status}: {run.status_message} {steps}"
    assert all(status == StepStatus.SUCCEEDED for _, status, _ in steps)
    return run


def test_tabular_classifier_template(celery_worker, api, target, catalog):
    params = {
        "model_name": f"cat-{uuid.uuid4().hex[:6]}",
        "dataset": "iris",
        "algorithm": "random_forest",
        "n_estimators": 10,
    }
    if target.train_instance_type:
        params["instance_type"] = target.train_instance_type
    run = succeeded(launch(api, target, "tabular-classifier", params))
    if target.name != "databricks":  # the stand-in's job trains nothing, so registers no version (conftest)
        assert_in_models_at_once(api, run, "train")
    train = run.steps.get(key="train")
    assert train.params["hyperparameters"] == {"n_estimators": 10}
    assert train.external_id and run.outputs["train"]


def assert_in_models_at_once(api, run, step_key):
    """The moment the run has succeeded (the worker has no beat and no sync has
    been asked for), its version is in Models, its lineage names the run, and
    the run links to the portal's own version page first."""
    from apps.registry.models import ModelVersion

    step = run.steps.get(key=step_key)
    assert step.model_name and step.model_version
    version = ModelVersion.objects.select_related("model").get(run=run)
    assert (version.model.name, version.version) == (step.model_name, step.model_version)
    listed = api.get("/api/v1/models/", {"q": step.model_name}).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert str(version.model_id) in {row["id"] for row in rows}
    versions = api.get(f"/api/v1/models/{version.model_id}/versions/").json()
    rows = versions["results"] if isinstance(versions, dict) else versions
    assert next(row for row in rows if row["version"] == step.model_version)["run"] == str(run.pk)
    shown = api.get(f"/api/v1/runs/{run.pk}/").json()["model_version"]
    assert shown == {
        "id": str(version.pk),
        "name": version.model.name,
        "version": version.version,
        "url": version.get_absolute_url(),
    }


def test_workspace_template_provisions_and_tears_down(celery_worker, api, target, catalog):
    name = f"ws-{uuid.uuid4().hex[:6]}"
    run = succeeded(launch(api, target, "workspace", {"name": name, "project": "contract"}))
    resource_id = run.outputs["provision"]["resource_id"]
    assert resource_id
    teardown = api.post(
        "/api/v1/runs/",
        {"kind": "teardown", **target.run_target(), "params": {"resource_id": resource_id}},
        format="json",
    )
    assert teardown.status_code == 201, teardown.json()
    done = wait_for_run(Run.objects.get(pk=teardown.json()["id"]), FINAL, timeout=180)
    assert done.status == RunStatus.SUCCEEDED, done.status_message


def test_hyperparameter_search_template(celery_worker, api, target, catalog):
    params = {"model_name": f"search-{uuid.uuid4().hex[:6]}", "dataset": "iris", "trials": 3, "max_trees": 30}
    run = succeeded(launch(api, target, "hyperparameter-search", params))
    outputs = run.outputs["search"]
    if target.name == "databricks":  # the stand-in runs no script: the job run is all there is to see
        assert outputs["databricks_run_id"]
        return
    assert outputs["model_version"] and outputs["trials"] == 3
    assert 10 <= int(outputs["best_params"]["n_estimators"]) <= 30
    assert outputs["best_score"] is not None
    # A redelivered submit finds the search it started, and starts no second one.
    step = run.steps.get(key="search")
    from apps.runs.engine import job_of_step
    from apps.runs.operations import OPERATIONS

    assert OPERATIONS["tune"].submit(target.backend(), job_of_step(step, run)) == step.external_id
    if target.name == "sagemaker":
        jobs = target.backend().sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
        assert [j["HyperParameterTuningJobName"] for j in jobs].count(step.external_id) == 1


def test_batch_inference_template(celery_worker, api, target, catalog):
    model = f"batch-{uuid.uuid4().hex[:6]}"
    trained = {"model_name": model, "dataset": "iris", "algorithm": "logistic_regression"}
    if target.train_instance_type:
        trained["instance_type"] = target.train_instance_type
    train = succeeded(launch(api, target, "tabular-classifier", trained))
    version = train.outputs["train"].get("model_version", "1")  # the Databricks stand-in registers none
    run = succeeded(
        launch(api, target, "batch-inference", {"model_name": model, "model_version": version, "dataset": "iris"})
    )
    scored = run.outputs["score"]
    if target.name == "local":
        assert scored["rows"] == 150
    elif target.name == "sagemaker":
        assert scored["input"].startswith("s3://") and scored["output"].startswith("s3://")
    else:
        assert scored["databricks_run_id"]


# The hardware each backend serves the template's targets on; the others it refuses before anything is made.
ENDPOINT_TARGETS = {
    "local": {"cpu": None},  # a local model server: no hardware to choose
    "sagemaker": {"gpu": "ml.g5.xlarge", "inferentia": "ml.inf2.xlarge"},
    "databricks": {"gpu": "GPU_SMALL"},
}


def test_realtime_endpoint_template(celery_worker, api, target, catalog, request):
    model = f"serve-{uuid.uuid4().hex[:6]}"
    trained = {"model_name": model, "dataset": "iris", "algorithm": "logistic_regression"}
    if target.train_instance_type:
        trained["instance_type"] = target.train_instance_type
    train = succeeded(launch(api, target, "tabular-classifier", trained))
    if target.name == "databricks":  # the stand-in's job registers nothing: a real version, as conftest does
        version = target.registered_versions(model, [train])[0]
    else:
        version = train.outputs["train"]["model_version"]
    backend = target.backend()
    for hardware, instance_type in ENDPOINT_TARGETS[target.name].items():
        endpoint = f"tpl-{hardware}-{uuid.uuid4().hex[:6]}"
        request.addfinalizer(lambda endpoint=endpoint: backend.delete_endpoint(endpoint))
        params = {"endpoint": endpoint, "model_name": model, "model_version": version, "target": hardware}
        run = succeeded(launch(api, target, "realtime-endpoint", params))
        assert run.steps.get(key="deploy").params["variants"][0]["target"] == hardware
        status = backend.get_endpoint(endpoint)
        assert status.state == "in_service" and list(status.weights.values()) == [100]
        if instance_type:
            assert target.endpoint_instance_type(endpoint) == instance_type
    for hardware in {"gpu", "inferentia"} - set(ENDPOINT_TARGETS[target.name]):  # refused before anything is made
        params = {"endpoint": f"no-{hardware}", "model_name": model, "model_version": version, "target": hardware}
        response = api.post(
            "/api/v1/templates/realtime-endpoint/launch/", {"params": params, **target.run_target()}, format="json"
        )
        assert response.status_code == 400 and f"no {hardware} hardware" in str(response.json())
