"""The catalogue in a real browser (Debian's headless chromium, Playwright),
against the live server, a real worker and MLflow: browse, search, launch,
review, and watch the run's steps to success."""

import pytest

from tests.catalog.conftest import shipped_catalog  # noqa: F401 - a fixture
from tests.conftest import wait_until
from tests.e2e.test_browser import SCREENSHOTS, TERMINAL_LABELS, browser, log_in  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_browse_launch_review_and_watch_to_success(browser, live_server, celery_worker, ds, shipped_catalog):  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server.url, ds.username)

    page.get_by_role("link", name="Catalogue", exact=True).click()
    cards = page.locator("[data-testid=template-card]")
    expect(cards).to_have_count(len(shipped_catalog))
    page.get_by_placeholder("Search templates").fill("tabular classifier")  # htmx swaps the cards in place
    expect(cards).to_have_count(1)
    page.get_by_role("link", name="Tabular classifier").click()
    expect(page.get_by_role("heading", name="Parameters")).to_be_visible()
    page.get_by_test_id("launch").click()

    page.get_by_label("Model name").fill("wine-browser")
    page.get_by_label("Dataset").fill("wine")  # a free input with the built-in names suggested
    # Conditional fields follow the algorithm: trees for a forest, C for logistic regression.
    expect(page.get_by_label("Trees")).to_be_visible()
    page.get_by_label("Algorithm").select_option("logistic_regression")
    expect(page.get_by_label("Trees")).to_be_hidden()
    expect(page.get_by_label("Inverse regularisation strength (C)")).to_be_visible()
    page.get_by_label("Algorithm").select_option("random_forest")
    page.get_by_label("Trees").fill("9999")
    page.get_by_test_id("review").click()
    expect(page.locator("#f-p-n_estimators-errors")).to_have_text("Must be at most 500.")  # beside its field
    page.get_by_label("Trees").fill("15")
    page.get_by_test_id("review").click()

    expect(page.get_by_test_id("dry-run")).to_contain_text("Nothing has been created")
    expect(page.get_by_test_id("planned-step")).to_have_count(1)
    expect(page.get_by_test_id("review-params").locator("tr", has_text="N estimators")).to_contain_text("15")
    page.get_by_test_id("launch-now").click()

    page.wait_for_url(f"{live_server.url}/runs/*/")
    expect(page.get_by_test_id("step")).to_have_count(1)
    # The page polls on its own; meanwhile this test is the beat that polls the job (conftest.wait_until).
    wait_until(
        lambda: page.locator("[data-testid=run-status]").inner_text().strip() in TERMINAL_LABELS,
        120,
        0.5,
        "the page to show the run ended",
    )
    assert page.get_by_test_id("run-status").inner_text() == "Succeeded", page.locator("ol.log").inner_text()
    expect(page.get_by_test_id("step-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("rerun")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "catalog-run.png"), full_page=True)

    page.get_by_test_id("rerun").click()  # the form again, with the inputs of that run
    expect(page.get_by_label("Model name")).to_have_value("wine-browser")
    expect(page.get_by_label("Trees")).to_have_value("15")
    context.close()
