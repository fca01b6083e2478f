"""In a real browser: Debian's headless chromium driven by Playwright, against
pytest-django's live server, a real Celery worker (the test is its beat) and a real MLflow
server. Nothing is mocked."""

from pathlib import Path

import pytest

from tests.conftest import ROOT, skip_or_fail, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "var" / "test" / "screenshots"
PASSWORD = "pw-Secret-123"  # the conftest's make_user password
TERMINAL_LABELS = ["Succeeded", "Failed", "Cancelled"]


@pytest.fixture
def browser(monkeypatch):
    if not Path(CHROMIUM).exists():
        skip_or_fail("needs Debian's chromium")
    # Playwright's sync API runs an asyncio loop in this thread; the ORM calls the
    # test makes meanwhile are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")  # the home page


def test_start_a_training_run_and_watch_it_finish_live(browser, live_server, celery_worker, ds):
    from playwright.sync_api import expect

    from apps.catalog.services import catalog_load
    from tests.catalog.conftest import SHIPPED

    catalog_load(folder=SHIPPED)  # Runs -> New is the catalogue's training form

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server.url, ds.username)

    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    page.get_by_role("link", name="Start a training run").click()
    page.wait_for_url(f"{live_server.url}/catalog/tabular-classifier/launch/")
    page.get_by_label("Model name").fill("bc-browser")
    page.get_by_label("Dataset").fill("breast_cancer")  # a free input with the built-in names suggested
    page.get_by_label("Algorithm").select_option("random_forest")
    page.get_by_label("Trees").fill("20")
    page.get_by_test_id("review").click()
    page.get_by_test_id("launch-now").click()

    page.wait_for_url(f"{live_server.url}/runs/*/")
    status = page.locator("[data-testid=run-status]")
    section = page.locator("#run-status")
    first_seen = status.inner_text()
    assert first_seen not in TERMINAL_LABELS, f"run already {first_seen} on arrival: nothing left to watch"
    assert section.get_attribute("hx-trigger") == "every 2s"
    expect(page.get_by_role("button", name="Cancel run")).to_be_visible()
    # Cancel asks first (static/js/confirm.js); saying no leaves the run alone.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel run").click()
    assert asked and "Cancel this run?" in asked[0]
    expect(page.get_by_test_id("rerun")).to_be_visible()  # started from the one form: it can be re-run
    # A marker only this document has: a full reload would wipe it.
    page.evaluate("window.__atriumNoReload = true")

    # The page polls on its own; meanwhile this test is the beat that polls the job (conftest.wait_until).
    wait_until(
        lambda: page.locator("[data-testid=run-status]").inner_text().strip() in TERMINAL_LABELS,
        120,
        0.5,
        "the page to show the run ended",
    )
    assert status.inner_text() == "Succeeded", page.locator("ol.log").inner_text()
    assert page.evaluate("window.__atriumNoReload") is True, "the page was reloaded instead of updated in place"
    expect(page.locator("[data-testid=model-version]")).to_have_text("1")
    expect(page.locator(".outputs")).to_contain_text("bc-browser")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)  # swapped out with the status
    # Terminal: the swapped-in partial carries no trigger, so polling has stopped.
    assert section.get_attribute("hx-trigger") is None
    assert section.get_attribute("hx-get") is None

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "run.png"), full_page=True)
    context.close()


def test_the_runs_list_and_its_filters_work_without_javascript(browser, live_server, ds, make_user, make_run):
    from apps.runs.models import RunStatus

    colleague = make_user("colleague")

    done = make_run(RunStatus.SUCCEEDED, name="mine-succeeded")
    make_run(RunStatus.FAILED, name="mine-failed")
    make_run(RunStatus.SUCCEEDED, name="theirs-succeeded", user=colleague)

    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server.url, ds.username)
    page.goto(f"{live_server.url}/runs/")  # login lands on the home page

    def names():
        return sorted(page.locator("table.runs tbody td:first-child a").all_inner_texts())

    assert names() == ["mine-failed", "mine-succeeded", "theirs-succeeded"]

    filter_button = page.get_by_role("button", name="Filter")  # inside <noscript>: only shown without JS
    assert filter_button.is_visible()
    page.locator("select[name=status]").select_option("succeeded")
    filter_button.click()
    page.wait_for_url("**/runs/?*status=succeeded*")
    assert names() == ["mine-succeeded", "theirs-succeeded"]

    page.get_by_label("Mine only").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/runs/?*mine=on*")
    assert names() == ["mine-succeeded"]
    # The form keeps what was chosen, so the next submit refines rather than resets.
    assert page.locator("select[name=status]").input_value() == "succeeded"

    page.get_by_role("link", name="mine-succeeded").click()
    page.wait_for_url(f"{live_server.url}{done.get_absolute_url()}")
    assert page.locator("[data-testid=run-status]").inner_text() == "Succeeded"
    context.close()
