"""The audit trail's page and API: who may read which part, filters, and a
constant number of queries however long the trail."""

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(ds, team, other_team):
    """Two decisions in our team, one in another team, one portal-wide."""
    ours = [
        audit_record(actor=ds, action="model.alias_set", target=team, team=team, data={"alias": "champion"}),
        audit_record(actor=ds, action="run.cancel", target=team, team=team),
    ]
    theirs = audit_record(actor=ds, action="model.alias_set", target=other_team, team=other_team)
    portal_wide = audit_record(actor=ds, action="connection.create", target=other_team, data={"kind": "databricks"})
    return ours, theirs, portal_wide


def rows(client, url="/audit/"):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode().count('data-testid="audit-row"')


def test_a_manager_reads_their_teams_part_of_the_trail(client, make_user, trail):
    client.force_login(make_user("boss", role=Role.MANAGER))
    assert rows(client) == 2
    page = client.get("/audit/").content.decode()
    assert "model.alias_set" in page and "champion" in page and "connection.create" not in page
    assert rows(client, "/audit/?action=run.") == 1
    assert rows(client, "/audit/?actor=nobody") == 0


def test_an_admin_reads_all_of_it(client, make_user, trail):
    client.force_login(make_user("root", role=Role.ADMIN, teams=[]))
    assert rows(client) == 4
    assert "Audit</a>" in client.get("/runs/").content.decode()


def test_a_data_scientist_is_refused_and_anonymous_sent_to_log_in(ds_client, trail):
    assert ds_client.get("/audit/").status_code == 403
    assert "Audit</a>" not in ds_client.get("/runs/").content.decode()
    assert Client().get("/audit/").status_code == 302


def test_the_api_lists_the_same_part(make_user, ds, trail):
    from apps.accounts.services import api_token_create

    api = APIClient()
    _, key = api_token_create(user=make_user("approver", role=Role.APPROVER))
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = api.get("/api/v1/audit/").json()
    assert body["count"] == 2 and {e["action"] for e in body["results"]} == {"model.alias_set", "run.cancel"}
    assert api.get("/api/v1/audit/?action=model.").json()["count"] == 1

    _, ds_key = api_token_create(user=ds)
    api.credentials(HTTP_AUTHORIZATION=f"Token {ds_key}")
    assert api.get("/api/v1/audit/").status_code == 403
    assert APIClient().get("/api/v1/audit/").status_code == 401
    assert "/api/v1/audit/" in APIClient().get("/api/schema/").content.decode()


def test_the_page_renders_at_a_constant_number_of_queries(client, make_user, ds, team):
    client.force_login(make_user("root", role=Role.ADMIN, teams=[team]))
    client.get("/audit/")  # warm the session and permission caches

    def queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert client.get("/audit/").status_code == 200
        return len(captured)

    audit_record(actor=ds, action="run.cancel", target=team, team=team)
    few = queries()
    for _ in range(30):
        audit_record(actor=ds, action="run.cancel", target=team, team=team)
    assert queries() == few


def test_nobody_can_change_the_trail_in_the_admin(make_user, trail):
    root = make_user("root", role=Role.ADMIN, teams=[])
    root.is_staff = root.is_superuser = True
    request = RequestFactory().get("/admin/")
    request.user = root
    model_admin = admin.site._registry[AuditEvent]
    event = AuditEvent.objects.first()
    assert model_admin.has_view_permission(request, event)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
