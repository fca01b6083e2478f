# ruff: noqa: F811 - fixtures imported from the registry's conftest are used as arguments
"""The endpoint mirror against the SageMaker stand-in (moto's server over HTTP)
and the Databricks stand-in: endpoints made outside the portal are found,
re-read when they change and marked deleted when they are gone; the portal's
own endpoints are left to the runs that change them."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.deployments.history import Configuration, ServedVariant, variant_history
from apps.deployments.mirror import Source, endpoints_sync, source_sync
from apps.deployments.models import Endpoint, EndpointEvent, EndpointState, Variant
from tests.registry.conftest import (  # noqa: F401 - fixtures
    admin,
    aws_stand_in,
    databricks_connection,
    databricks_stand_in,
    logged_iris_model,
    sagemaker_connection,
    sm,
)
from tests.sagemaker_upstream import endpoint_config, package, package_group, served_model, version_arns

pytestmark = pytest.mark.django_db


def _sagemaker_endpoint(sm, name, *, tags=(), count=2):
    """An endpoint made with boto3, as another tool would: a model package version and a raw model."""
    group = package_group(sm, versions=1)
    served_model(sm, f"{name}-pkg", package_arn=version_arns(sm, group)["1"])
    served_model(sm, f"{name}-raw")
    config = endpoint_config(
        sm,
        f"{name}-config",
        [
            ("blue", f"{name}-pkg", "ml.m5.large", count, 3),
            ("green", f"{name}-raw", "ml.c6i.large", 1, 1),  # a type the price table does not have
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=list(tags))
    return group


def _portal_endpoint(team, connection, name, state, **fields):
    endpoint = Endpoint.objects.create(
        team=team,
        backend=connection.kind,
        connection=connection,
        source=f"connection:{connection.pk}",
        name=name,
        state=state,
        weights={"a": 100},
        **fields,
    )
    Variant.objects.create(endpoint=endpoint, name="a", model_name="m", model_version="1", target="cpu")
    Endpoint.objects.filter(pk=endpoint.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    return endpoint


def test_sagemaker_endpoints_made_outside_are_found_changed_and_gone(
    sagemaker_connection, sm, team, other_team, ds_client
):
    source = Source(kind="sagemaker", connection=sagemaker_connection)
    name = f"outside-{uuid.uuid4().hex[:6]}"
    group = _sagemaker_endpoint(sm, name)
    ours = _portal_endpoint(team, sagemaker_connection, f"ours-{uuid.uuid4().hex[:6]}", EndpointState.IN_SERVICE)
    making = _portal_endpoint(team, sagemaker_connection, f"making-{uuid.uuid4().hex[:6]}", EndpointState.CREATING)

    report = source_sync(source=source)
    assert not report.errors and report.found >= 1
    found = Endpoint.objects.get(source=source.key, name=name)
    assert found.discovered and found.team == team  # no team tag: the connection's first team
    assert found.backend == "sagemaker" and found.created_by is None
    assert found.weights == {"blue": 75, "green": 25}
    variants = {v.name: v for v in found.variants.all()}
    assert (variants["blue"].model_name, variants["blue"].model_version) == (group, "1")
    assert (variants["blue"].instance_type, variants["blue"].instance_count) == ("ml.m5.large", 2)
    assert (variants["green"].model_name, variants["green"].model_version) == (f"{name}-raw", "")
    event = found.events.get()
    assert event.kind == EndpointEvent.Kind.FOUND and event.automatic
    assert event.message.startswith(f"Found on {sagemaker_connection.name}, made outside the portal: blue ({group} v1")
    # The portal's own endpoint the backend never had: gone once settled, left alone while being made.
    ours.refresh_from_db()
    making.refresh_from_db()
    assert ours.state == EndpointState.DELETED and making.state == EndpointState.CREATING
    assert ours.events.get().message == f"No longer on {sagemaker_connection.name}: deleted outside the portal"

    # The page says where it comes from, with its hardware and what it costs.
    page = ds_client.get(f"/deployments/{found.pk}/").content.decode()
    assert f"Found on {sagemaker_connection.name}: made outside the portal, not deployed by Atrium" in page
    assert "$0.230 / hour" in page and "$167.90 / month" in page  # 2 × ml.m5.large at $0.115
    assert "price unknown" in page  # ml.c6i.large: not in the price table
    listing = ds_client.get("/deployments/").content.decode()
    assert f"found on {sagemaker_connection.name}, not deployed by Atrium" in listing

    # In service a little later (the stand-in takes a few reads, as AWS takes minutes); then, unchanged,
    # not read again. Changed outside (new weights): read again, and the history says so.
    for _ in range(3):
        source_sync(source=source)
    found.refresh_from_db()
    assert found.state == EndpointState.IN_SERVICE
    assert source_sync(source=source).unchanged >= 1
    sm.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "green", "DesiredWeight": 3.0}]
    )
    assert source_sync(source=source).changed >= 1
    found.refresh_from_db()
    assert found.weights == {"blue": 50, "green": 50} and found.state == EndpointState.IN_SERVICE
    assert found.variants.get(name="blue").instance_count == 2  # the weights call kept the instances
    assert found.events.first().kind == EndpointEvent.Kind.CHANGED

    # A team tag names its owner, if that team may use the connection.
    tagged = f"tagged-{uuid.uuid4().hex[:6]}"
    _sagemaker_endpoint(sm, tagged, tags=[{"Key": "team", "Value": other_team.slug}])
    sagemaker_connection.teams.add(other_team)
    source_sync(source=Source(kind="sagemaker", connection=sagemaker_connection))
    assert Endpoint.objects.get(source=source.key, name=tagged).team == other_team

    # Deleted outside: marked deleted, off the list.
    sm.delete_endpoint(EndpointName=name)
    assert source_sync(source=source).gone >= 1
    found.refresh_from_db()
    assert found.state == EndpointState.DELETED and found.weights == {}
    assert name not in ds_client.get("/deployments/").content.decode()


def settle(source, sm, name):
    """Syncs until the stand-in has finished the endpoint's update (it takes a few reads, as AWS takes minutes)."""
    for _ in range(3):
        source_sync(source=source)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def test_what_a_found_endpoint_served_is_recorded_at_each_change_outside_the_portal(sagemaker_connection, sm, ds):
    """The cost split's history of an endpoint made and changed outside the portal: the configuration
    the mirror found, then the one it saw after someone moved the endpoint to a new model version on
    fewer instances. A sync that sees nothing new, or only new weights, records no configuration."""
    source = Source(kind="sagemaker", connection=sagemaker_connection)
    name = f"outside-{uuid.uuid4().hex[:6]}"
    group = _sagemaker_endpoint(sm, name)
    settle(source, sm, name)
    found = Endpoint.objects.get(source=source.key, name=name)
    first = found.events.get()
    assert first.kind == EndpointEvent.Kind.FOUND
    assert first.variants == [
        {"name": "blue", "model_name": group, "model_version": "1", "instance_count": 2},
        {"name": "green", "model_name": f"{name}-raw", "model_version": "", "instance_count": 1},
    ]
    today = timezone.now().date()
    found_config = {"blue": ServedVariant(group, "1", 2), "green": ServedVariant(f"{name}-raw", "", 1)}

    def history():
        return variant_history(user=ds, names=[name], until=today)[name]

    source_sync(source=source, full=True)  # read again: nothing new
    assert found.events.count() == 1
    sm.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "green", "DesiredWeight": 3.0}]
    )
    settle(source, sm, name)
    assert found.events.first().kind == EndpointEvent.Kind.CHANGED  # new weights: said on the page ...
    assert found.events.first().variants == []  # ... but the same versions on the same instances
    assert history() == [Configuration(since=first.at, variants=found_config)]

    # Someone moves blue to version 2 of the package, on one instance, outside the portal.
    package(sm, group)
    served_model(sm, f"{name}-v2", package_arn=version_arns(sm, group)["2"])
    config = endpoint_config(
        sm,
        f"{name}-config-2",
        [("blue", f"{name}-v2", "ml.m5.large", 1, 1), ("green", f"{name}-raw", "ml.c6i.large", 1, 1)],
    )
    sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
    settle(source, sm, name)
    changed = found.events.filter(kind=EndpointEvent.Kind.CHANGED).exclude(variants=[]).get()
    assert changed.variants[0] == {"name": "blue", "model_name": group, "model_version": "2", "instance_count": 1}
    assert first.at < changed.at
    assert history() == [
        Configuration(since=first.at, variants=found_config),
        Configuration(
            since=changed.at,
            variants={"blue": ServedVariant(group, "2", 1), "green": ServedVariant(f"{name}-raw", "", 1)},
        ),
    ]
    source_sync(source=source)
    source_sync(source=source, full=True)
    assert found.events.count() == 3 and len(history()) == 2  # nothing new: nothing recorded


def test_databricks_endpoints_made_outside_are_found_and_gone(databricks_connection, logged_iris_model, team):
    from databricks.sdk.service import serving

    from apps.connections.services import connection_backend

    backend = connection_backend(databricks_connection)
    uri, run_id = logged_iris_model
    ref = backend.register_model_version(f"m-{uuid.uuid4().hex[:8]}", uri, run_id=run_id)
    name = f"outside-{uuid.uuid4().hex[:6]}"
    backend.client.serving_endpoints.create(
        name=name,
        config=serving.EndpointCoreConfigInput(
            name=name,
            served_entities=[
                serving.ServedEntityInput(
                    name="current",
                    entity_name=ref.name,
                    entity_version=ref.version,
                    workload_type=serving.ServingModelWorkloadType.GPU_SMALL,
                    workload_size="Medium",
                    scale_to_zero_enabled=False,
                )
            ],
        ),
        tags=[serving.EndpointTag(key="owner", value="someone")],
    )
    source = Source(kind="databricks", connection=databricks_connection)

    report = source_sync(source=source)
    assert not report.errors and report.found >= 1
    found = Endpoint.objects.get(source=source.key, name=name)
    assert found.discovered and found.team == team
    variant = found.variants.get()
    assert (variant.name, variant.model_name, variant.model_version) == ("current", ref.name, ref.version)
    assert (variant.instance_type, variant.instance_count) == ("GPU_SMALL", 4)  # Medium: up to 16 concurrent
    assert found.events.get().message == (
        f"Found on {databricks_connection.name}, made outside the portal: "
        f"current ({ref.name} v{ref.version}, 4 × GPU_SMALL) at 100%"
    )

    # Ready a read or two later (the stand-in's config takes a few, as Model Serving takes minutes).
    for _ in range(3):
        source_sync(source=source)
    found.refresh_from_db()
    assert found.state == EndpointState.IN_SERVICE and found.weights == {"current": 100}
    assert source_sync(source=source).unchanged >= 1

    backend.delete_endpoint(name)
    source_sync(source=source)
    found.refresh_from_db()
    assert found.state == EndpointState.DELETED


def test_the_portals_endpoint_is_left_to_its_runs_and_adopted_when_it_deploys(sagemaker_connection, sm, team, ds):
    """A found endpoint the portal deploys to becomes the portal's: the mirror no longer rewrites it."""
    from apps.deployments.mirror import endpoint_adopt
    from apps.runs.models import Run, RunStep

    source = Source(kind="sagemaker", connection=sagemaker_connection)
    name = f"adopted-{uuid.uuid4().hex[:6]}"
    _sagemaker_endpoint(sm, name)
    source_sync(source=source)
    found = Endpoint.objects.get(source=source.key, name=name)

    run = Run.objects.create(
        team=team,
        created_by=ds,
        kind="deploy",
        backend="sagemaker",
        connection=sagemaker_connection,
        status="succeeded",
        idempotency_key=f"atr-{uuid.uuid4().hex}",
    )
    step = RunStep.objects.create(
        run=run, position=0, key="deploy", name="Deploy", action="deploy", params={"endpoint": name}, status="succeeded"
    )
    endpoint_adopt(step)
    found.refresh_from_db()
    assert not found.discovered
    Endpoint.objects.filter(pk=found.pk).update(weights={"blue": 100, "green": 0})
    statuses = [sm.describe_endpoint(EndpointName=name)["EndpointStatus"] for _ in range(4)]
    assert statuses[-1] == "InService", statuses  # AWS refuses a weights change while it is being created
    sm.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "green", "DesiredWeight": 30.0}]
    )
    source_sync(source=source, full=True)
    found.refresh_from_db()
    assert found.weights == {"blue": 100, "green": 0}  # the portal's split: the gateway routes by it

    # A found endpoint the portal is deleting is left to the delete's run, listed or gone.
    other = f"deleting-{uuid.uuid4().hex[:6]}"
    _sagemaker_endpoint(sm, other)
    source_sync(source=source)
    Endpoint.objects.filter(source=source.key, name=other).update(state=EndpointState.DELETING)
    source_sync(source=source, full=True)
    sm.delete_endpoint(EndpointName=other)
    source_sync(source=source)
    deleting = Endpoint.objects.get(source=source.key, name=other)
    assert deleting.state == EndpointState.DELETING and deleting.events.count() == 1  # found, nothing since


def test_a_failing_source_is_reported_and_the_others_go_on(admin, team, monkeypatch):
    from apps.connections.services import connection_create
    from apps.deployments import mirror

    dead = connection_create(
        user=admin,
        name="dead-databricks",
        kind="databricks",
        config={"host": "http://127.0.0.1:9", "timeout_seconds": 1},  # nothing listens there
        secrets={"token": "dapi-x"},
        teams=[team],
    )
    monkeypatch.setattr(mirror, "sources", lambda: [Source(kind="databricks", connection=dead), Source(kind="local")])
    reports = endpoints_sync()
    assert reports["dead-databricks"].errors and not reports["this machine"].errors
