import re

import pytest

pytestmark = pytest.mark.django_db


def nav(client):
    page = client.get("/runs/").content.decode()
    return re.search(r'<nav aria-label="Sections">(.*?)</nav>', page, re.S).group(1)


def test_sections_not_built_are_muted_with_a_tooltip(ds_client):
    menu = nav(ds_client)
    for label in ("Costs",):
        link = re.search(rf"<a [^>]*>{label}<", menu).group(0)
        assert 'class="planned' in link and 'title="Not built yet: ' in link, link
    for label in ("Catalogue", "Runs", "Models", "Approvals", "Deployments", "Monitoring"):
        link = re.search(rf"<a [^>]*>{label}<", menu).group(0)
        assert "planned" not in link and "Not built yet" not in link, link


def test_a_planned_section_page_says_so(ds_client):
    page = ds_client.get("/section/costs/").content.decode()
    assert "Not built yet" in page
    assert ds_client.get("/section/nope/").status_code == 404
