"""Sync from a real MLflow server, the SageMaker stand-in (moto over HTTP) and
the Databricks stand-in: created, changed and deleted upstream -> mirrored."""

import pytest
from django.utils import timezone

from apps.registry.models import ModelAlias, ModelVersion, RegisteredModel
from apps.registry.sync import Source, model_sync, source_sync
from tests.sagemaker_upstream import package

pytestmark = pytest.mark.django_db


def aliases_of(model):
    return dict(ModelAlias.objects.filter(model=model).values_list("alias", "version__version"))


def test_local_mlflow_created_changed_deleted(local_mlflow, mlflow_logged, model_name, make_run, team, isolate_sources):
    client, run_id, source, register = mlflow_logged
    run = make_run("succeeded", outputs={"model_name": model_name, "model_version": "1", "mlflow_run_id": run_id})
    client.create_registered_model(model_name, description="Iris classifier")
    register(model_name, tags={"atrium.run_key": run.idempotency_key})
    local = Source(kind="local")
    isolate_sources(local)

    report = source_sync(source=local)
    assert not report.errors
    model = RegisteredModel.objects.get(source="local", name=model_name)
    v1 = model.versions.get(version="1")
    assert model.team == team and model.backend == "local" and model.connection is None
    assert model.primary_metric == "accuracy" and model.latest_version_number == 1
    assert v1.metrics == {"accuracy": 0.9, "log_loss": 0.3}
    assert v1.params["dataset"] == "iris" and v1.dataset == "iris"
    assert [c["name"] for c in v1.input_schema][:1] == ["sepal length (cm)"] and len(v1.input_schema) == 4
    assert v1.run == run and v1.source_run_id == run_id and v1.artifact_uri == source

    # changed upstream: a new version, an alias, a version tag
    register(model_name)
    client.set_registered_model_alias(model_name, "champion", "2")
    client.set_model_version_tag(model_name, "1", "owner", "ops")
    assert source_sync(source=local).models >= 1
    assert aliases_of(model) == {"champion": "2"}
    model.refresh_from_db()
    assert model.latest_version_number == 2 and model.version_count == 2
    assert model.versions.get(version="1").tags["owner"] == "ops"

    # unchanged: skipped (its fingerprint is the same)
    assert source_sync(source=local).skipped >= 1

    # deleted upstream: a version, then the model
    client.delete_model_version(model_name, "1")
    source_sync(source=local)
    assert model.versions.get(version="1").deleted_upstream
    client.delete_registered_model(model_name)
    source_sync(source=local)
    model.refresh_from_db()
    assert model.deleted_upstream and not aliases_of(model)


def test_sagemaker_created_changed_deleted(sagemaker_connection, sm, model_name, team, isolate_sources):
    source = Source(kind="sagemaker", connection=sagemaker_connection)
    isolate_sources(source)
    sm.create_model_package_group(ModelPackageGroupName=model_name, Tags=[{"Key": "project", "Value": "fraud"}])
    first = package(sm, model_name, metrics={"validation:accuracy": 0.8})

    assert not source_sync(source=source).errors
    model = RegisteredModel.objects.get(source=source.key, name=model_name)
    assert model.team == team  # the connection's team: no portal run, no team tag
    assert model.tags == {"project": "fraud"} and model.backend == "sagemaker"
    assert model.versions.get(version="1").approval_status == "PendingManualApproval"
    assert model.primary_metric == "validation:accuracy"

    second = package(sm, model_name, metrics={"validation:accuracy": 0.9})
    sm.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved")
    sm.add_tags(ResourceArn=second, Tags=[{"Key": "atrium:alias:champion", "Value": "true"}])
    source_sync(source=source)
    assert model.versions.get(version="1").approval_status == "Approved"
    assert aliases_of(model) == {"champion": "2"}
    assert model.versions.get(version="2").metrics == {"validation:accuracy": 0.9}

    sm.delete_model_package(ModelPackageName=first)
    source_sync(source=source)
    assert model.versions.get(version="1").deleted_upstream
    sm.delete_model_package(ModelPackageName=second)
    sm.delete_model_package_group(ModelPackageGroupName=model_name)
    source_sync(source=source)
    model.refresh_from_db()
    assert model.deleted_upstream


def test_databricks_created_changed_deleted(databricks_connection, logged_iris_model, model_name, isolate_sources):
    from apps.connections.services import connection_backend

    source = Source(kind="databricks", connection=databricks_connection)
    isolate_sources(source)
    backend = connection_backend(databricks_connection)
    uri, mlflow_run_id = logged_iris_model
    ref = backend.register_model_version(model_name, uri, run_id=mlflow_run_id)

    assert not source_sync(source=source).errors
    model = RegisteredModel.objects.get(source=source.key, name=ref.name)
    assert ref.name.endswith(f".{model_name}") and model.backend == "databricks"
    assert model.versions.get(version="1").source_run_id == mlflow_run_id

    backend.register_model_version(model_name, uri, run_id=mlflow_run_id)
    backend.set_alias(ref, "champion")  # on version 1, upstream
    backend.set_version_tag(ref, "reviewed", "yes")
    source_sync(source=source)
    assert model.versions.count() == 2
    assert aliases_of(model) == {"champion": "1"}
    assert model.versions.get(version="1").tags["reviewed"] == "yes"

    backend.client.registered_models.delete(ref.name)
    source_sync(source=source)
    model.refresh_from_db()
    assert model.deleted_upstream and set(model.versions.values_list("deleted_upstream", flat=True)) == {True}


def test_a_unity_catalog_version_shows_the_metrics_of_the_run_that_trained_it(
    databricks_connection, logged_iris_model, model_name, make_run, isolate_sources
):
    """Unity Catalog keeps no metrics: the portal run that trained the version reported them."""
    from apps.connections.services import connection_backend
    from apps.registry.services import version_link_step

    backend = connection_backend(databricks_connection)
    uri, mlflow_run_id = logged_iris_model
    ref = backend.register_model_version(model_name, uri, run_id=mlflow_run_id)
    isolate_sources(Source(kind="databricks", connection=databricks_connection))
    run = make_run(
        "succeeded",
        backend="databricks",
        connection=databricks_connection,
        finished_at=timezone.now(),
        step={"model_name": ref.name, "model_version": "1", "metrics": {"accuracy": 0.93, "f1_macro": 0.92}},
    )

    version_link_step(run.steps.get())  # the run engine's effect when the step succeeded
    model = model_sync(source=Source(kind="databricks", connection=databricks_connection), name=ref.name)
    version = model.versions.get(version="1")
    assert version.run == run and version.metrics == {"accuracy": 0.93, "f1_macro": 0.92}
    assert (model.primary_metric, model.latest_metrics["accuracy"]) == ("accuracy", 0.93)


def test_a_failing_source_is_reported_and_others_go_on(local_mlflow, admin, team, isolate_sources):
    from apps.connections.services import connection_create
    from apps.registry.models import SyncState
    from apps.registry.sync import registry_sync

    dead = connection_create(
        user=admin,
        name="dead-databricks",
        kind="databricks",
        config={"host": "http://127.0.0.1:9", "timeout_seconds": 1},  # give up fast: nothing listens there
        secrets={"token": "dapi-x"},
        teams=[team],
    )
    isolate_sources(Source(kind="databricks", connection=dead), Source(kind="local"))
    reports = registry_sync()
    assert reports["dead-databricks"].errors and not reports["this machine"].errors
    assert SyncState.objects.get(source=f"connection:{dead.pk}").ok is False


def test_a_run_that_registered_a_version_links_to_it(local_mlflow, mlflow_logged, model_name, make_run, team):
    """The moment the step succeeds the version is in Models, linked to the run,
    without reading the registry; a later sync keeps the link."""
    from apps.registry.services import version_link_step

    client, run_id, source, register = mlflow_logged
    register(model_name)
    run = make_run(
        "succeeded",
        finished_at=timezone.now(),
        step={"model_name": model_name, "model_version": "1", "outputs": {"mlflow_run_id": "elsewhere"}},
    )
    step = run.steps.select_related("run__connection").get()
    version_link_step(step)
    model = RegisteredModel.objects.get(name=model_name)
    assert model.team == team and model.latest_version_number == 1
    assert ModelVersion.objects.get(model=model, version="1").run == run
    assert model_sync(source=Source(kind="local"), name=model_name).versions.get(version="1").run == run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_of_one_new_model_write_it_once(on_postgres, local_mlflow, mlflow_logged, model_name):
    """The beat, a webhook and a run's link can sync the same model at once:
    neither fails on the other's rows, and the model and its versions are there once."""
    import threading

    from django.db import connection

    _, _, _, register = mlflow_logged
    register(model_name)
    register(model_name)
    barrier = threading.Barrier(4)
    errors = []

    def sync():
        barrier.wait()
        try:
            model_sync(source=Source(kind="local"), name=model_name)
        except Exception as exc:  # noqa: BLE001 - the test reports whatever a sync raised
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    model = RegisteredModel.objects.get(source="local", name=model_name)
    assert sorted(ModelVersion.objects.filter(model=model).values_list("version", flat=True)) == ["1", "2"]
