"""The Getting started page: linked from the home, a walk through the first task
of each of the person's roles, with links to the real pages; honest about what is
not built yet."""

import re

import pytest

from apps.accounts.models import Role

pytestmark = pytest.mark.django_db


def page(client, user) -> str:
    client.force_login(user)
    response = client.get("/getting-started/")
    assert response.status_code == 200
    return response.content.decode()


def links(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def test_the_home_links_to_it(client, ds):
    client.force_login(ds)
    html = client.get("/").content.decode()
    assert 'href="/getting-started/"' in html


def test_anonymous_is_sent_to_log_in(client):
    response = client.get("/getting-started/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_data_scientist_is_walked_from_the_catalogue_to_the_model_version(client, ds):
    html = page(client, ds)
    assert 'data-testid="guide-scientist"' in html
    assert 'data-testid="guide-approver"' not in html and 'data-testid="guide-manager"' not in html
    guide = html[html.index('data-testid="guide-scientist"') : html.index("</section>", html.index("guide-scientist"))]
    # In the order a newcomer does it: the catalogue, then their runs, then Models.
    order = [guide.index(f'href="{url}"') for url in ("/catalog/", "/runs/?mine=on", "/models/")]
    assert order == sorted(order)


def test_an_approver_is_led_to_the_approvals_inbox(client, make_user):
    html = page(client, make_user(role=Role.APPROVER))
    guide = html[html.index('data-testid="guide-approver"') :]
    assert "not built yet" not in guide[: guide.index("</section>")]
    assert "/approvals/" in links(guide)
    assert 'data-testid="guide-scientist"' not in html


def test_a_manager_is_led_to_the_dashboards(client, make_user):
    html = page(client, make_user(role=Role.MANAGER))
    guide = html[html.index('data-testid="guide-manager"') :]
    assert "not built yet" not in guide.lower()
    assert {"/costs/", "/costs/budgets/", "/monitoring/", "/deployments/", "/runs/", "/models/"} <= links(guide)


def test_every_link_on_it_opens_a_page(client, make_user):
    """No dead link: each one answers 200 to the person who reads it (admin sees every guide)."""
    from apps.accounts.services import team_get_or_create, user_create

    admin = user_create(
        username="boss", password="pw-Secret-123", role=Role.ADMIN, teams=[team_get_or_create(name="Alpha")]
    )
    html = page(client, admin)
    assert all(f'data-testid="guide-{g}"' in html for g in ("scientist", "approver", "manager"))
    for href in links(html):
        if href.startswith("/static/") or href.endswith(".svg") or href.endswith(".css"):
            continue
        assert client.get(href).status_code == 200, href
