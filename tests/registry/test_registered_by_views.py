"""'Registered … by': the portal user who started the training run, else the registry's word, never 'unknown'."""

import re

import pytest

from tests.registry.factories import make_model

pytestmark = pytest.mark.django_db


def registered_by(client, url) -> list[str]:
    return re.findall(r'data-testid="registered-by">([^<]*)<', client.get(url).content.decode())


def test_versions_trained_through_the_portal_say_who_started_the_run(ds_client, ds, team, make_run, make_user):
    model = make_model(team=team, name="churn", versions=3)
    run = make_run("succeeded", user=make_user("alice"))
    model.versions.filter(version="3").update(run=run, created_by="unknown")
    model.versions.filter(version="2").update(created_by="svc-mlflow")
    model.versions.filter(version="1").update(created_by="unknown")
    assert registered_by(ds_client, model.get_absolute_url()) == ["alice", "svc-mlflow"]  # v3, v2; v1 says nothing
    v3 = model.versions.get(version="3")
    assert registered_by(ds_client, v3.get_absolute_url()) == ["alice"]
    page = ds_client.get(model.versions.get(version="1").get_absolute_url()).content.decode()
    assert "by unknown" not in page and 'data-testid="registered-by"' not in page
