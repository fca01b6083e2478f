"""Gateway keys through the API and the endpoint page's panel: owners create
(the key shown once, never cached, stored hashed) and revoke; another team's
endpoint is a 404, a reader's write a 403, anonymous callers are refused;
both writes are audited."""

import hashlib

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.deployments.models import Endpoint
from apps.gateway.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(team, ds):
    return Endpoint.objects.create(team=team, backend="local", source="local", name="iris", created_by=ds)


def keys_url(endpoint):
    return f"/api/v1/endpoints/{endpoint.pk}/keys/"


def test_owner_creates_lists_and_revokes_a_key(api, endpoint):
    created = api.post(keys_url(endpoint), {"consumer": "checkout", "rate_limit_per_minute": 60}, format="json")
    assert created.status_code == 201, created.content
    assert set(created.json()) == {"id", "key"}
    assert created["Cache-Control"] == "no-store"
    key = created.json()["key"]
    row = ApiKey.objects.get(pk=created.json()["id"])
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {row.key_hash, row.prefix} and key.startswith(row.prefix)
    assert (row.consumer, row.rate_limit_per_minute) == ("checkout", 60)

    listed = api.get(keys_url(endpoint)).json()
    assert [(k["consumer"], k["prefix"], k["active"]) for k in listed] == [("checkout", row.prefix, True)]
    assert key not in str(listed)

    revoked = api.post(f"{keys_url(endpoint)}{row.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert [e.action for e in AuditEvent.objects.order_by("created_at") if e.action.startswith("gateway_key")] == [
        "gateway_key.create",
        "gateway_key.revoke",
    ]


def test_bad_input_is_a_400_and_makes_nothing(api, endpoint):
    for body in ({}, {"consumer": ""}, {"consumer": "x", "rate_limit_per_minute": 0}, {"consumer": "x", "extra": 1}):
        assert api.post(keys_url(endpoint), body, format="json").status_code == 400, body
    assert not ApiKey.objects.exists()


def test_other_teams_readers_and_anonymous_are_refused(api, endpoint, other_team, make_user):
    theirs = Endpoint.objects.create(team=other_team, backend="local", source="local", name="theirs")
    assert api.get(keys_url(theirs)).status_code == 404
    assert api.post(keys_url(theirs), {"consumer": "x"}, format="json").status_code == 404
    assert api.post(f"{keys_url(theirs)}00000000-0000-0000-0000-000000000000/revoke/").status_code == 404

    key_id = api.post(keys_url(endpoint), {"consumer": "x"}, format="json").json()["id"]
    approver = APIClient()
    approver.force_authenticate(make_user(role=Role.APPROVER))
    assert approver.get(keys_url(endpoint)).status_code == 200  # readers see which consumers have keys
    assert approver.post(keys_url(endpoint), {"consumer": "y"}, format="json").status_code == 403
    assert approver.post(f"{keys_url(endpoint)}{key_id}/revoke/").status_code == 403
    assert ApiKey.objects.get(pk=key_id).revoked_at is None

    anonymous = APIClient()
    assert anonymous.get(keys_url(endpoint)).status_code in {401, 403}
    assert anonymous.post(keys_url(endpoint), {"consumer": "y"}, format="json").status_code in {401, 403}
    assert ApiKey.objects.count() == 1


def test_the_keys_panel_shows_a_new_key_once_and_revokes(ds_client, endpoint, make_user, client):
    url = f"/gateway/endpoints/{endpoint.pk}/keys/"
    panel = ds_client.get(url, HTTP_HX_REQUEST="true")
    assert panel.status_code == 200 and b"Create key" in panel.content and b"<html" not in panel.content

    created = ds_client.post(f"{url}new/", {"consumer": "batch-job"}, HTTP_HX_REQUEST="true")
    assert "no-store" in created["Cache-Control"]
    row = ApiKey.objects.get()
    shown = created.content.decode().split('data-testid="new-gateway-key">', 1)[1].split("<", 1)[0]
    assert ApiKey.hash_key(shown) == row.key_hash
    assert b"new-gateway-key" not in ds_client.get(url, HTTP_HX_REQUEST="true").content  # only once

    revoked = ds_client.post(f"{url}{row.pk}/revoke/", HTTP_HX_REQUEST="true")
    assert revoked.status_code == 200 and b"revoked" in revoked.content
    row.refresh_from_db()
    assert row.revoked_at is not None

    client.force_login(make_user(role=Role.MANAGER))
    page = client.get(url)  # without htmx: a page of its own, read-only for a manager
    assert page.status_code == 200 and b"<html" in page.content and b"Create key" not in page.content
