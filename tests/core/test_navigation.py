import re

import pytest

pytestmark = pytest.mark.django_db


def nav(client):
    page = client.get("/runs/").content.decode()
    return re.search(r'<nav aria-label="Sections">(.*?)</nav>', page, re.S).group(1)


def test_every_section_is_built_and_none_is_muted(ds_client):
    menu = nav(ds_client)
    for label in ("Catalogue", "Runs", "Models", "Approvals", "Deployments", "Costs", "Monitoring"):
        link = re.search(rf"<a [^>]*>{label}<", menu).group(0)
        assert "planned" not in link and "Not built yet" not in link, link


def test_built_sections_have_no_planned_page(ds_client):
    for section in ("approvals", "deployments", "monitoring", "costs", "nope"):
        assert ds_client.get(f"/section/{section}/").status_code == 404
