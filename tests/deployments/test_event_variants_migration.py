"""Endpoints found before the mirror recorded what they served: the migration gives their latest
"found" or "changed" event the variants the mirror last wrote, so a change seen from now on
splits the days before it by them."""

from importlib import import_module

import pytest
from django.apps import apps

from apps.deployments.models import Endpoint, EndpointEvent, EndpointState, Variant

pytestmark = pytest.mark.django_db

migration = import_module("apps.deployments.migrations.0003_event_variants")


def endpoint(team, name, *, discovered=True, kinds=("found", "changed")):
    row = Endpoint.objects.create(
        team=team, backend="local", source="local", name=name, state=EndpointState.IN_SERVICE, discovered=discovered
    )
    Variant.objects.create(endpoint=row, name="a", model_name="churn", model_version="3", instance_count=2)
    for kind in kinds:
        EndpointEvent.objects.create(endpoint=row, kind=kind, automatic=True, message="")
    return row


def test_the_latest_record_of_a_found_endpoint_gets_its_variants(team):
    found = endpoint(team, "found")
    adopted = endpoint(team, "adopted", discovered=False)  # the portal's now: its variants are its runs'
    migration.record_what_found_endpoints_serve(apps, None)
    latest, first = found.events.all()
    assert first.variants == []  # what it served then is not known
    assert latest.variants == [{"name": "a", "model_name": "churn", "model_version": "3", "instance_count": 2}]
    assert not adopted.events.exclude(variants=[]).exists()
