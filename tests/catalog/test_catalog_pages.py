"""The Catalogue's pages: organisation-wide templates and the team-only ones of the
person's teams, read as two parts and merged, come out as one list in name order,
page after page, with the right count; the tag counts follow a template's change."""

import re

import pytest

pytestmark = pytest.mark.django_db


def names_on(client, url: str) -> list[str]:
    html = client.get(url).content.decode()
    return re.findall(r'<h2><a href="/catalog/[^"]+/">([^<]+)</a></h2>', html)


def test_pages_merge_organisation_and_team_templates_in_name_order(ds_client, make_template, other_team):
    from apps.catalog.views import PAGE_SIZE

    expected = []
    for i in range(PAGE_SIZE + 6):
        name = f"T{i:03d}"
        if i % 3 == 0:
            make_template(slug=f"t{i}", name=name, visibility="team")  # the person's team: visible
        else:
            make_template(slug=f"t{i}", name=name)
        expected.append(name)
    make_template(slug="hidden", name="T0005-hidden", owner=other_team.slug, visibility="team")

    first, second = names_on(ds_client, "/catalog/"), names_on(ds_client, "/catalog/?page=2")
    assert first + second == expected
    assert len(first) == PAGE_SIZE
    html = ds_client.get("/catalog/").content.decode()
    assert f"{len(expected)} templates" in html and "Page 1 of 2" in html


def test_a_search_reads_both_parts(ds_client, make_template):
    make_template(slug="fraud-team", name="Fraud (team)", visibility="team")
    make_template(slug="fraud-org", name="Fraud (everyone)")
    make_template(slug="churn", name="Churn")
    assert names_on(ds_client, "/catalog/?q=fraud") == ["Fraud (everyone)", "Fraud (team)"]


def test_tag_counts_follow_a_new_template(ds_client, make_template):
    make_template(slug="one", name="One")
    assert "tabular (1)" in ds_client.get("/catalog/").content.decode()
    make_template(slug="two", name="Two")
    assert "tabular (2)" in ds_client.get("/catalog/").content.decode()


def test_the_chosen_tag_stays_chosen_in_the_filter_bar(ds_client, make_template):
    make_template(slug="one", name="One")
    html = ds_client.get("/catalog/?tag=tabular").content.decode()
    assert '<option value="tabular" selected>tabular (1)</option>' in html
    assert names_on(ds_client, "/catalog/?tag=tabular") == ["One"]
    assert " selected>tabular" not in ds_client.get("/catalog/").content.decode()
