import logging

import pytest

from apps.audit.models import AuditEvent
from apps.connections.models import Connection
from apps.connections.services import connection_create, connection_secrets, connection_update
from apps.core.errors import InvalidInput

pytestmark = pytest.mark.django_db

TOKEN = "dapi-very-secret-token-0123456789"


@pytest.fixture
def databricks(admin, team):
    return connection_create(
        user=admin,
        name="dbx",
        kind="databricks",
        config={"host": "http://127.0.0.1:9"},
        secrets={"token": TOKEN},
        teams=[team],
    )


def test_secrets_are_encrypted_at_rest(databricks):
    stored = Connection.objects.values_list("secrets_ciphertext", flat=True).get(pk=databricks.pk)
    assert TOKEN not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert connection_secrets(databricks) == {"token": TOKEN}
    assert TOKEN not in repr(databricks)


def test_a_blank_secret_keeps_the_stored_one(admin, databricks, team):
    connection_update(
        user=admin, connection=databricks, config={"host": "http://127.0.0.1:10"}, secrets={"token": ""}, teams=[team]
    )
    assert connection_secrets(databricks) == {"token": TOKEN}
    connection_update(
        user=admin,
        connection=databricks,
        config={"host": "http://127.0.0.1:10"},
        secrets={"token": "dapi-new-0000"},
        teams=[],
    )

    # The audit trail says what changed and which secrets were set, never a secret's value.
    trail = list(AuditEvent.objects.filter(target_id=str(databricks.pk)).order_by("id"))
    assert [(e.action, e.data["secrets_set"], e.data["teams"]) for e in trail] == [
        ("connection.create", ["token"], ["alpha"]),
        ("connection.update", [], ["alpha"]),
        ("connection.update", ["token"], []),
    ]
    assert trail[1].data["config"] == {"host": "http://127.0.0.1:10"}
    assert not any(secret in str(e.data) for e in trail for secret in (TOKEN, "dapi-new-0000"))


def test_only_admins_manage_connections(make_user, team, client, databricks):
    from django.core.exceptions import PermissionDenied

    scientist = make_user("sci")
    with pytest.raises(PermissionDenied):
        connection_create(
            user=scientist,
            name="x",
            kind="databricks",
            config={"host": "http://h"},
            secrets={"token": "t0000"},
            teams=[team],
        )
    client.force_login(scientist)
    for url in ["/connections/", "/connections/new/databricks/", f"/connections/{databricks.pk}/"]:
        assert client.get(url).status_code == 403
    assert client.post(f"/connections/{databricks.pk}/test/").status_code == 403


@pytest.mark.parametrize(
    ("kind", "config", "secrets", "field"),
    [
        ("databricks", {"host": "not a url"}, {"token": "t0000"}, "host"),
        ("databricks", {"host": "https://x.cloud.databricks.com"}, {}, "token"),
        ("sagemaker", {"region": "moon-1"}, {}, "region"),
        ("sagemaker", {"region": "eu-west-1"}, {"access_key_id": "AKIA0000"}, "secret_access_key"),
        ("sagemaker", {"region": "eu-west-1", "colour": "red"}, {}, "colour"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_saved(admin, kind, config, secrets, field):
    with pytest.raises(InvalidInput) as error:
        connection_create(user=admin, name="bad", kind=kind, config=config, secrets=secrets, teams=[])
    assert field in error.value.errors
    assert not Connection.objects.exists()


def test_the_edit_page_never_shows_a_secret(client, admin, databricks, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(admin)
    page = client.get(f"/connections/{databricks.pk}/").content.decode()
    assert TOKEN not in page and "Leave blank to keep" in page
    response = client.post(
        "/connections/new/databricks/",
        {"name": "dbx2", "host": "http://127.0.0.1:11", "token": "dapi-another-secret-9876"},
    )
    assert response.status_code == 302
    assert "dapi-another-secret-9876" not in client.get(response.url).content.decode()
    assert TOKEN not in caplog.text and "dapi-another-secret-9876" not in caplog.text


def test_runs_may_use_only_connections_granted_to_their_team(api, admin, other_team, train_params):
    connection_create(
        user=admin,
        name="theirs",
        kind="databricks",
        config={"host": "http://127.0.0.1:9"},
        secrets={"token": TOKEN},
        teams=[other_team],
    )
    response = api.post(
        "/api/v1/runs/", {"kind": "train", "connection": "theirs", "params": train_params}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["connection"] == ["That connection is not available to your team, or does not exist."]


def test_make_run_seeds_two_sandbox_connections_for_the_demo_team(monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-1")
    call_command("seed_demo")
    call_command("seed_sandbox_connections")
    call_command("seed_sandbox_connections")  # idempotent
    sandboxes = {c.name: c for c in Connection.objects.filter(is_sandbox=True)}
    assert set(sandboxes) == {"SageMaker sandbox", "Databricks sandbox"}
    assert sandboxes["SageMaker sandbox"].config["endpoint_url"].startswith("http://127.0.0.1:")
    assert all(c.teams.filter(slug="demo").exists() for c in sandboxes.values())
    assert connection_secrets(sandboxes["Databricks sandbox"]) == {"token": "dapi-sandbox"}


@pytest.mark.parametrize("kind", ["sagemaker", "databricks"])
def test_the_form_offers_exactly_the_settings_the_backend_declares(client, admin, kind):
    """One declaration per backend (apps/backends/<kind>/settings.py): the form, its
    labels and which fields hide their value all follow it."""
    import re

    from django.utils.html import escape

    from apps.backends.registry import connection_settings

    declared = connection_settings(kind)
    client.force_login(admin)
    page = client.get(f"/connections/new/{kind}/").content.decode()
    offered = set(re.findall(r'<input type="(?:text|password)" name="(\w+)"', page)) - {"name"}
    assert offered == {setting.name for setting in declared}
    for setting in declared:
        assert escape(setting.label) in page
        kind_of_input = "password" if setting.secret else "text"
        assert f'<input type="{kind_of_input}" name="{setting.name}"' in page


def test_a_setting_the_backend_does_not_declare_is_refused(admin, team):
    with pytest.raises(InvalidInput) as refused:
        connection_create(
            user=admin,
            name="odd",
            kind="databricks",
            config={"host": "http://127.0.0.1:9", "warehouse_colour": "blue"},
            secrets={"token": TOKEN},
            teams=[team],
        )
    assert refused.value.errors == {"warehouse_colour": ["Unknown setting."]}
    assert not Connection.objects.filter(name="odd").exists()
