"""GET /api/v1/connections/: which connections the caller may run on, never a secret (issue 15, item 13)."""

import json

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.connections.models import Connection
from apps.connections.services import connection_create

pytestmark = pytest.mark.django_db

TOKEN = "dapi-very-secret-token-0123456789"


@pytest.fixture
def connections(admin, team, other_team):
    def make(name, teams):
        return connection_create(
            user=admin,
            name=name,
            kind="databricks",
            config={"host": "http://127.0.0.1:9"},
            secrets={"token": TOKEN},
            teams=teams,
        )

    ours = make("ours", [team, other_team])
    theirs = make("theirs", [other_team])
    Connection.objects.filter(pk=ours.pk).update(
        last_test_at=timezone.now(), last_test_report=[{"name": "reach", "ok": True, "detail": ""}]
    )
    return ours, theirs


def test_lists_the_callers_connections_without_secrets(api, connections, team):
    response = api.get("/api/v1/connections/")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["name"] == "ours" and row["kind"] == "databricks"
    assert row["teams"] == [team.slug]  # not the other teams it is shared with
    assert row["last_check"]["ok"] is True and row["last_check"]["at"]
    assert TOKEN not in json.dumps(response.json()) and "127.0.0.1:9" not in json.dumps(response.json())


def test_admins_see_every_connection(client, admin, connections):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(admin)
    names = [row["name"] for row in api.get("/api/v1/connections/").json()["results"]]
    assert names == ["ours", "theirs"]
    assert api.get("/api/v1/connections/").json()["results"][1]["last_check"] == {"ok": None, "at": None}


def test_anonymous_callers_are_refused(client, connections):
    assert client.get("/api/v1/connections/").status_code in (401, 403)


def test_constant_queries(api, connections, admin, team):
    api.get("/api/v1/connections/")  # once first: the token's last use is recorded at most once a minute
    with CaptureQueriesContext(db_connection) as few:
        api.get("/api/v1/connections/")
    for i in range(5):
        connection_create(
            user=admin,
            name=f"more{i}",
            kind="databricks",
            config={"host": "http://h"},
            secrets={"token": TOKEN},
            teams=[team],
        )
    with CaptureQueriesContext(db_connection) as many:
        assert len(api.get("/api/v1/connections/").json()["results"]) == 6
    assert len(many) == len(few)
