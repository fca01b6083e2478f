"""The audit page speaks to people: actions as sentences, objects by kind, linked to their pages."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Role
from apps.audit.services import audit_record
from tests.registry.factories import make_model

pytestmark = pytest.mark.django_db


def test_actions_read_as_sentences_and_objects_link_to_their_pages(client, make_user, team, make_run, ds):
    run = make_run()
    version = make_model(team=team, name="churn", versions=2).versions.get(version="2")
    audit_record(actor=ds, action="run.cancel", target=run, team=team)
    audit_record(actor=ds, action="model.alias_set", target=version, team=team, data={"alias": "champion"})
    client.force_login(make_user("boss", role=Role.MANAGER))
    page = client.get("/audit/").content.decode()
    assert ">Run cancelled</span>" in page and ">Alias set</span>" in page
    assert "<code>run.cancel</code>" not in page and ">runs.run<" not in page
    links = re.findall(r'<a href="([^"]+)" data-testid="audit-target">', page)
    assert run.get_absolute_url() in links and version.get_absolute_url() in links
    assert '<span class="muted">Run</span>' in page and '<span class="muted">Model version</span>' in page


def test_audit_links_cost_a_constant_number_of_queries(client, make_user, team, make_run, ds):
    client.force_login(make_user("boss", role=Role.MANAGER))

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/audit/").status_code == 200
        return len(captured)

    def add():
        model = make_model(team=team, versions=1)
        audit_record(actor=ds, action="model.tag_set", target=model.versions.get(), team=team)
        audit_record(actor=ds, action="run.cancel", target=make_run(), team=team)

    add()
    few = count()
    for _ in range(6):
        add()
    assert count() == few
