"""In a real browser (Debian's chromium via Playwright) against the live
server: from the models list to a comparison, and the champion alias set from
the portal lands in the real MLflow server."""

import pytest

from tests.e2e.test_browser import CHROMIUM_ARGS, browser, log_in  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_from_the_models_list_to_a_comparison(browser, live_server, ds, local_mlflow, mlflow_logged, model_name):  # noqa: F811
    from playwright.sync_api import expect

    from apps.registry.sync import Source, source_sync

    client, _, _, register = mlflow_logged
    register(model_name, tags={"team": ds.teams.first().slug})
    register(model_name)
    source_sync(source=Source(kind="local"), full=True)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server.url, ds.username)
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    page.get_by_placeholder("Search by name").fill(model_name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=model_name).click()
    expect(page.locator("[data-testid=versions] tbody tr")).to_have_count(2)
    expect(page.locator("[data-chart]").first).to_have_attribute("data-drawn", "true")  # no eval under the CSP

    page.get_by_role("link", name="v2", exact=True).click()
    page.get_by_label("Alias").fill("champion")
    page.get_by_role("button", name="Set alias").click()
    expect(page.locator(".messages")).to_contain_text("champion now points at version 2")
    assert client.get_model_version_by_alias(model_name, "champion").version == "2"
    expect(page.get_by_test_id("history")).to_contain_text(f"{ds.username} · alias set · alias champion")
    expect(page.get_by_role("link", name="Request promotion")).to_be_visible()
    expect(page.get_by_test_id("promotions")).to_contain_text("Not asked for any environment yet.")  # loaded by htmx

    page.get_by_role("link", name=model_name).click()
    expect(page.locator('tr[data-version="2"] .aliases')).to_have_text("@champion")
    page.get_by_label("Compare version 1").check()
    page.get_by_label("Compare version 2").check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page.get_by_role("heading", name=f"Compare {model_name}")).to_be_visible()
    expect(page.locator('[data-metric="accuracy"]')).to_be_visible()
    expect(page.locator("[data-chart]").first).to_have_attribute("data-drawn", "true")  # no eval under the CSP
    context.close()
