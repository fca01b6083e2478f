"""The catalogue's pages: browse, detail, edit -- permissions, escaping, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Role
from apps.catalog.models import Template

from .conftest import minimal_spec

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client, make_template):
    make_template()
    for url in ("/catalog/", "/catalog/mini/", "/catalog/mini/launch/", "/catalog/mini/edit/", "/catalog/mini/v1/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url


def test_browse_shows_cards_and_filters(ds_client, shipped_catalog):
    page = ds_client.get("/catalog/").content.decode()
    assert page.count('data-testid="template-card"') == len(shipped_catalog)
    assert "Real-time endpoint" in page and "Tabular classifier" in page
    filtered = ds_client.get("/catalog/", {"q": "approve", "kind": "deploy"}).content.decode()
    assert filtered.count('data-testid="template-card"') == 1 and "Train, approve and deploy" in filtered


def test_htmx_search_gets_the_cards_fragment_only(ds_client, shipped_catalog):
    response = ds_client.get("/catalog/", {"q": "workspace"}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert "<html" not in content and content.count('data-testid="template-card"') == 1


def test_detail_renders_description_parameters_and_steps(ds_client, shipped_catalog):
    page = ds_client.get("/catalog/train-approve-deploy/").content.decode()
    assert "<strong>train</strong>" in page  # Markdown rendered
    assert "<code>model_name</code>" in page  # the parameters table
    assert "Approve the new version" in page and 'data-testid="launch"' in page


def test_description_markdown_is_sanitised(ds_client, make_template, team):
    text = minimal_spec(owner=team.slug).replace(
        "description: A test template.",
        'description: "Hi <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>"',
    )
    make_template(text=text)
    page = ds_client.get("/catalog/mini/").content.decode()
    assert "<script>alert(1)" not in page and "javascript:alert(2)" not in page and "onerror" not in page


def test_template_names_are_escaped_in_the_list(ds_client, make_template, team):
    make_template(text=minimal_spec(owner=team.slug, name='"<b>bold</b>"'))
    page = ds_client.get("/catalog/").content.decode()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_team_private_template_is_404_to_others(ds_client, make_template, other_team):
    make_template(slug="secret", name="Secret", owner=other_team.slug, visibility="team")
    assert "Secret" not in ds_client.get("/catalog/").content.decode()
    for url in ("/catalog/secret/", "/catalog/secret/launch/", "/catalog/secret/v1/"):
        assert ds_client.get(url).status_code == 404, url


def test_manager_reads_but_cannot_launch(client, make_template, make_user):
    make_template()
    client.force_login(make_user("boss", role=Role.MANAGER))
    page = client.get("/catalog/mini/")
    assert page.status_code == 200 and 'data-testid="launch"' not in page.content.decode()
    assert client.get("/catalog/mini/launch/").status_code == 403
    assert client.post("/catalog/mini/launch/", {"action": "launch"}).status_code == 403


def test_only_admins_edit(ds_client, client, make_template, make_user):
    make_template()
    assert ds_client.get("/catalog/mini/edit/").status_code == 403
    client.force_login(make_user("root", role=Role.ADMIN))
    assert client.get("/catalog/mini/edit/").status_code == 200
    bad = client.post("/catalog/mini/edit/", {"text": minimal_spec().replace("kind: train", "kind: party")})
    assert bad.status_code == 400 and "/kind" in bad.content.decode()
    assert Template.objects.get(slug="mini").current_version.number == 1
    good = client.post("/catalog/mini/edit/", {"text": minimal_spec(name="Renamed")})
    assert good.status_code == 302
    assert Template.objects.get(slug="mini").current_version.number == 2


def test_catalogue_list_queries_are_constant(ds_client, make_template, team):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert ds_client.get("/catalog/").status_code == 200
        return len(ctx.captured_queries)

    make_template(slug="t0")
    few = queries()
    for i in range(1, 30):
        make_template(slug=f"t{i}", name=f"T{i}")
    assert queries() == few


def test_search_uses_the_trigram_index_on_postgres(on_postgres, make_template, ds):
    from apps.catalog.selectors import template_list

    for i in range(50):
        make_template(slug=f"t{i}", name=f"Template {i}")
    queryset = template_list(user=ds, q="Emplate 4")  # the query the page runs
    assert queryset.count() == 11
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # on 50 rows the planner would rightly scan
        # The lookup the selector uses, on its own: other indexes win on a tiny table.
        plan = Template.objects.filter(search_text__contains="emplate 4").explain()
        cursor.execute("SET enable_seqscan = on")
    assert "catalog_template_search_trgm" in plan, plan


def test_the_catalogue_counts_from_an_index_on_postgres(on_postgres, make_template, ds):
    """The pager's "N templates" adds up the two parts' counts: the organisation-wide one
    reads the narrow count index alone (with 10,000 templates PostgreSQL read the whole
    table instead), the person's teams' one an index too."""
    from apps.catalog.selectors import template_pages

    for i in range(30):
        make_template(slug=f"t{i}", name=f"Template {i}")
    pages = template_pages(user=ds)  # the parts the page counts
    with CaptureQueriesContext(connection) as counts:
        assert pages.count() == 30
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # on 30 rows the planner would rightly scan
        plans = []
        for query in counts.captured_queries:
            cursor.execute(f"EXPLAIN {query['sql']}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("SET enable_seqscan = on")
    organisation = next(plan for plan in plans if "organisation" in plan)
    assert "Index Only Scan using catalog_template_counts" in organisation, organisation
    assert len(plans) == 2 and not any("Seq Scan" in plan for plan in plans), plans
