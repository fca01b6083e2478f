"""Pages and API: permissions per role and team, the versions table shows
aliases, compare marks better/worse by direction, lists at constant queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.registry.compare import versions_compare
from tests.registry.factories import make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(team):
    return make_model(team=team, name="fraud-<b>xgb</b>", versions=3, aliases={"champion": 2, "challenger": 3})


def login(client, user):
    client.force_login(user)
    return client


def api_as(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_the_versions_table_shows_aliases_and_approval_on_every_row(client, ds, model):
    page = login(client, ds).get(model.get_absolute_url()).content.decode()
    row = page.split('data-version="2"')[1].split("</tr>")[0]
    assert "@champion" in row and "Approved" in row
    row3 = page.split('data-version="3"')[1].split("</tr>")[0]
    assert "@challenger" in row3 and "PendingManualApproval" in row3
    assert "fraud-&lt;b&gt;xgb&lt;/b&gt;" in page and "fraud-<b>" not in page  # escaped
    assert 'data-chart="metric-chart"' in page and "vendor/plotly/plotly.min.js" in page


def test_models_list_search_filter_sort(client, ds, team, other_team, model):
    make_model(team=team, name="churn-rf", versions=1, tags={"project": "churn"})
    make_model(team=other_team, name="theirs", versions=1)
    client = login(client, ds)

    def names(**query):
        response = client.get("/models/", query)
        assert response.status_code == 200
        return [m.name for m in response.context["page"]]

    assert set(names()) == {"fraud-<b>xgb</b>", "churn-rf"}  # not the other team's
    assert names(q="churn") == ["churn-rf"]
    assert names(tag="project=churn") == ["churn-rf"] and names(tag="project") == ["churn-rf"]
    assert names(alias="champion") == ["fraud-<b>xgb</b>"]
    assert names(approval="Approved") == ["fraud-<b>xgb</b>"]
    assert names(sort="metric", metric="accuracy") == ["fraud-<b>xgb</b>", "churn-rf"]
    assert names(team=team.slug, backend="local", sort="name") == ["churn-rf", "fraud-<b>xgb</b>"]
    assert client.get("/models/", {"q": "churn"}, HTTP_HX_REQUEST="true").templates[0].name == "registry/_models.html"


def test_lists_render_at_a_constant_number_of_queries(client, ds, team):
    client = login(client, ds)

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    first = make_model(team=team, versions=2, aliases={"champion": 1})
    small_list, small_model = count("/models/"), count(first.get_absolute_url())
    for _ in range(8):
        make_model(team=team, versions=2, aliases={"champion": 1, "challenger": 2})
    big = make_model(team=team, versions=40, aliases={"champion": 3, "challenger": 40})
    assert count("/models/") == small_list
    assert count(big.get_absolute_url()) == small_model


def test_compare_marks_better_and_worse_by_the_metric_direction(client, ds, model):
    versions = list(model.versions.filter(version__in=["1", "3"]).order_by("number"))
    comparison = versions_compare(model=model, versions=versions)
    rows = {row.name: row for row in comparison.metrics}
    assert rows["accuracy"].direction == "max" and rows["accuracy"].cells[1].mark == "better"
    assert rows["log_loss"].direction == "min" and rows["log_loss"].cells[1].mark == "better"  # it went down
    assert rows["accuracy"].cells[1].best and not rows["accuracy"].cells[0].best
    assert {row.name: row.differs for row in comparison.params} == {"C": True, "dataset": False}

    worse = versions_compare(model=model, versions=list(reversed(versions)))
    assert {row.name: row.cells[1].mark for row in worse.metrics} == {"accuracy": "worse", "log_loss": "worse"}

    page = login(client, ds).get(f"{model.get_absolute_url()}compare/?v=3&v=1&v=2").content.decode()
    assert 'data-mark="worse"' in page and 'data-chart="compare-chart"' in page
    response = client.get(f"{model.get_absolute_url()}compare/?v=1")
    assert response.status_code == 302  # one version is not a comparison

    data = api_as(ds).get(f"/api/v1/models/{model.pk}/compare/?v=1&v=3").json()
    assert data["versions"] == ["1", "3"] and data["metrics"][0]["cells"][1]["mark"] == "better"
    assert api_as(ds).get(f"/api/v1/models/{model.pk}/compare/?v=1&v=99").status_code == 400


def test_version_page_shows_lineage_and_the_promotion_request(client, ds, model, make_run):
    run = make_run("succeeded", name="train fraud")
    version = model.versions.get(version="2")
    version.run, version.dataset = run, "transactions.parquet"
    version.input_schema = [{"name": "amount", "type": "double"}]
    version.save()
    page = login(client, ds).get(version.get_absolute_url()).content.decode()
    assert "transactions.parquet" in page and run.get_absolute_url() in page and "amount" in page
    assert f'href="/approvals/new/?version={version.pk}"' in page and "Request promotion</a>" in page
    assert f'hx-get="/approvals/versions/{version.pk}/"' in page  # the promotions, from Approvals
    assert "No changes made through the portal yet." in page

    # Changes made through the portal show as the version's history, escaped.
    from apps.audit.services import audit_record

    data = {"version": "2", "alias": "champion", "moved_from": "1"}
    audit_record(actor=ds, action="model.alias_set", target=version, team=model.team, data=data)
    audit_record(actor=ds, action="model.tag_set", target=version, team=model.team, data={"key": "<b>k</b>"})
    page = client.get(version.get_absolute_url()).content.decode()
    assert "ds · alias set · alias champion · moved from 1" in page
    assert "&lt;b&gt;k&lt;/b&gt;" in page and "<b>k</b>" not in page


ROLES = [Role.APPROVER, Role.MANAGER]


@pytest.mark.parametrize("role", ROLES)
def test_approvers_and_managers_read_their_teams_models_but_cannot_change_them(client, make_user, model, role):
    user = make_user(role=role)
    client = login(client, user)
    version = model.versions.get(version="1")
    assert client.get("/models/").status_code == 200
    assert client.get(model.get_absolute_url()).status_code == 200
    page = client.get(version.get_absolute_url()).content.decode()
    assert "Set alias" not in page and "Read only" in page
    assert client.post(f"{version.get_absolute_url()}alias/", {"alias": "champion"}).status_code == 403
    api = api_as(user)
    assert api.get(f"/api/v1/models/{model.pk}/").status_code == 200
    assert api.post(f"/api/v1/model-versions/{version.pk}/alias/", {"alias": "x"}, format="json").status_code == 403
    assert api.post(f"/api/v1/model-versions/{version.pk}/archive/").status_code == 403


def test_another_team_gets_404_everywhere(client, make_user, other_team, model):
    outsider = make_user(teams=[other_team])
    client = login(client, outsider)
    version = model.versions.get(version="1")
    base = model.get_absolute_url()
    for url in [base, f"{base}compare/?v=1&v=2", version.get_absolute_url()]:
        assert client.get(url).status_code == 404
    for url in [f"{version.get_absolute_url()}alias/", f"{version.get_absolute_url()}archive/", f"{base}sync/"]:
        assert client.post(url, {"alias": "x"}).status_code == 404
    api = api_as(outsider)
    assert api.get(f"/api/v1/models/{model.pk}/").status_code == 404
    assert api.get(f"/api/v1/models/{model.pk}/versions/").status_code == 404
    assert api.post(f"/api/v1/model-versions/{version.pk}/alias/", {"alias": "x"}, format="json").status_code == 404
    assert api.get("/api/v1/models/").json()["count"] == 0


def test_anonymous_is_sent_to_log_in_and_the_api_answers_401(client, model):
    version = model.versions.get(version="1")
    for url in ["/models/", model.get_absolute_url(), version.get_absolute_url()]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.post(f"{version.get_absolute_url()}alias/", {"alias": "x"}).status_code == 302
    api = APIClient()
    assert api.get("/api/v1/models/").status_code == 401
    assert api.post(f"/api/v1/model-versions/{version.pk}/alias/", {"alias": "x"}).status_code == 401


def test_unowned_models_are_for_admins_only(client, ds, make_user):
    orphan = make_model(team=None, name="orphan")
    assert login(client, ds).get(orphan.get_absolute_url()).status_code == 404
    admin = make_user(role=Role.ADMIN)
    assert login(client, admin).get(orphan.get_absolute_url()).status_code == 200


def test_the_api_lists_models_and_versions_and_is_in_the_schema(ds, model):
    api = api_as(ds)
    found = api.get("/api/v1/models/", {"alias": "champion"}).json()
    assert found["count"] == 1 and found["results"][0]["aliases"] == {"champion": "2", "challenger": "3"}
    versions = api.get(f"/api/v1/models/{model.pk}/versions/").json()["results"]
    assert [v["version"] for v in versions] == ["3", "2", "1"] and versions[1]["aliases"] == ["champion"]
    version = api.get(f"/api/v1/model-versions/{versions[0]['id']}/").json()
    assert version["params"] == {"C": "3", "dataset": "iris"}
    schema = api.get("/api/schema/").content.decode()
    for path in ["/api/v1/models/", "/api/v1/models/{id}/compare/", "/api/v1/model-versions/{id}/alias/"]:
        assert path in schema
