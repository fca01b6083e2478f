"""Alias moves written through to each backend (real MLflow, the SageMaker and
Databricks stand-ins over HTTP), and a failing write leaves the mirror as it was."""

import pytest

from apps.audit.models import AuditEvent
from apps.registry import services
from apps.registry.models import ModelAlias
from apps.registry.sync import Source, source_sync

pytestmark = pytest.mark.django_db


def aliases_of(model):
    return dict(ModelAlias.objects.filter(model=model).values_list("alias", "version__version"))


def test_alias_moves_are_written_to_mlflow(local_mlflow, mlflow_logged, model_name, ds, make_run, isolate_sources):
    client, run_id, _, register = mlflow_logged
    run = make_run("succeeded")
    register(model_name, tags={"atrium.run_key": run.idempotency_key})
    register(model_name)
    isolate_sources(Source(kind="local"))
    source_sync(source=Source(kind="local"))
    model = ds.teams.first().registered_models.get(name=model_name)
    v1, v2 = model.versions.get(version="1"), model.versions.get(version="2")

    services.version_set_alias(user=ds, version=v1, alias="champion")
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    services.version_set_alias(user=ds, version=v2, alias="champion")
    assert client.get_model_version_by_alias(model_name, "champion").version == "2"
    assert aliases_of(model) == {"champion": "2"}

    services.version_set_tag(user=ds, version=v1, key="owner", value="fraud team")
    assert client.get_model_version(model_name, "1").tags["owner"] == "fraud team"
    services.version_archive(user=ds, version=v1)
    assert client.get_model_version(model_name, "1").tags["atrium.archived"] == "true"
    with pytest.raises(services.InvalidInput):  # an aliased version stays live
        services.version_archive(user=ds, version=v2)

    # A failing write (the version is gone upstream, the mirror does not know yet) changes nothing.
    client.delete_registered_model_alias(model_name, "champion")
    client.delete_model_version(model_name, "2")
    with pytest.raises(services.WriteFailed) as failed:
        services.version_set_alias(user=ds, version=v2, alias="challenger")
    assert "local MLflow" in failed.value.message and failed.value.permanent
    assert aliases_of(model) == {"champion": "2"}

    # Each change that went through is in the audit trail, with the team that owns the model; the refused one is not.
    trail = AuditEvent.objects.filter(team=model.team).order_by("id").values_list("actor_name", "action", "data")
    assert list(trail) == [
        ("ds", "model.alias_set", {"version": "1", "alias": "champion", "moved_from": None}),
        ("ds", "model.alias_set", {"version": "2", "alias": "champion", "moved_from": "1"}),
        ("ds", "model.tag_set", {"version": "1", "key": "owner", "value": "fraud team"}),
        ("ds", "model.archived", {"version": "1"}),
    ]


def test_alias_moves_are_written_to_sagemaker(sagemaker_connection, sm, model_name, ds, isolate_sources):
    from tests.sagemaker_upstream import package

    sm.create_model_package_group(ModelPackageGroupName=model_name)
    first = package(sm, model_name, metrics={"accuracy": 0.8})
    second = package(sm, model_name, metrics={"accuracy": 0.9})
    source = Source(kind="sagemaker", connection=sagemaker_connection)
    source_sync(source=source)
    model = ds.teams.first().registered_models.get(name=model_name)

    def tags(arn):
        return {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}

    services.version_set_alias(user=ds, version=model.versions.get(version="1"), alias="champion")
    assert "atrium:alias:champion" in tags(first)
    services.version_set_alias(user=ds, version=model.versions.get(version="2"), alias="champion")
    assert "atrium:alias:champion" in tags(second) and "atrium:alias:champion" not in tags(first)
    assert aliases_of(model) == {"champion": "2"}

    sm.delete_model_package(ModelPackageName=first)  # gone upstream: the write fails, nothing changes
    with pytest.raises(services.WriteFailed):
        services.version_set_alias(user=ds, version=model.versions.get(version="1"), alias="challenger")
    assert aliases_of(model) == {"champion": "2"}


def test_alias_moves_are_written_to_unity_catalog(databricks_connection, logged_iris_model, model_name, ds):
    from apps.connections.services import connection_backend

    backend = connection_backend(databricks_connection)
    uri, run_id = logged_iris_model
    ref = backend.register_model_version(model_name, uri, run_id=run_id)
    backend.register_model_version(model_name, uri, run_id=run_id)
    source_sync(source=Source(kind="databricks", connection=databricks_connection))
    model = ds.teams.first().registered_models.get(name=ref.name)

    def champion():
        found = backend.client.registered_models.get(ref.name, include_aliases=True)
        return {a.alias_name: str(a.version_num) for a in found.aliases or []}.get("champion")

    services.version_set_alias(user=ds, version=model.versions.get(version="1"), alias="champion")
    assert champion() == "1"
    services.version_set_alias(user=ds, version=model.versions.get(version="2"), alias="champion")
    assert champion() == "2" and aliases_of(model) == {"champion": "2"}
    services.version_remove_alias(user=ds, version=model.versions.get(version="2"), alias="champion")
    assert champion() is None and aliases_of(model) == {}


def test_bad_aliases_and_tags_are_refused_before_any_backend_call(ds, team):
    from tests.registry.factories import make_model

    model = make_model(team=team, source="connection:nowhere", backend="databricks")  # no backend behind it
    version = model.versions.get(version="1")
    for alias in ["", "latest", "v3", "bad alias", "9lives"]:
        with pytest.raises(services.InvalidInput) as refused:
            services.version_set_alias(user=ds, version=version, alias=alias)
        assert "alias" in refused.value.errors
    with pytest.raises(services.InvalidInput) as refused:
        services.version_set_tag(user=ds, version=version, key="atrium.archived", value="x")
    assert "key" in refused.value.errors


def test_the_cached_versions_table_follows_every_change(
    local_mlflow, mlflow_logged, model_name, ds, client, isolate_sources
):
    """The model page's versions table and chart are cached by the model's
    revision: a write through the portal and a sync of upstream changes both
    show on the next view."""
    import re

    mlflow, _, _, register = mlflow_logged
    register(model_name, tags={"team": ds.teams.first().slug})  # owned by ds's team
    register(model_name)
    isolate_sources(Source(kind="local"))
    source_sync(source=Source(kind="local"))
    model = ds.teams.first().registered_models.get(name=model_name)
    client.force_login(ds)

    def row(version: str) -> str:
        page = client.get(model.get_absolute_url()).content.decode()
        return re.search(rf'<tr data-version="{version}".*?</tr>', page, re.S).group(0)

    assert "@champion" not in row("1")  # now cached
    services.version_set_alias(user=ds, version=model.versions.get(version="1"), alias="champion")
    assert "@champion" in row("1")

    mlflow.set_registered_model_alias(model_name, "champion", "2")  # upstream, then synced
    source_sync(source=Source(kind="local"), full=True)
    assert "@champion" in row("2") and "@champion" not in row("1")

    mlflow.delete_registered_model_alias(model_name, "champion")
    mlflow.delete_model_version(model_name, "2")
    source_sync(source=Source(kind="local"), full=True)
    assert "deleted upstream" in row("2")
