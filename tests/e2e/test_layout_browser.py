"""Layout in a real browser: the home, Catalogue, Runs and Models pages never
overflow horizontally at 1400 and 768 px; screenshots of each for a look."""

import pytest

from tests.catalog.conftest import shipped_catalog  # noqa: F401 - a fixture
from tests.e2e.test_browser import SCREENSHOTS, browser, log_in  # noqa: F401 - a fixture
from tests.registry.factories import make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = {"home": "/", "catalogue": "/catalog/", "runs": "/runs/", "models": "/models/"}


@pytest.mark.parametrize("width", [1400, 768])
def test_main_pages_fit_the_screen(browser, live_server, ds, team, make_run, shipped_catalog, width):  # noqa: F811
    from apps.runs.models import RunStatus

    make_run(RunStatus.RUNNING, name="a-run-with-a-rather-long-name-to-wrap")
    make_run(RunStatus.SUCCEEDED, name="done")
    make_model(team=team, name="customer-churn-gradient-boosting-classifier", aliases={"champion": 2, "challenger": 3})
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server.url, ds.username)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, url in PAGES.items():
        page.goto(f"{live_server.url}{url}")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, f"{url} overflows at {width} px: {scroll} > {client}"
        # Every filter control is on the screen (the Catalogue's Filter button, the Models' Search).
        for box in page.locator("form.filters > *:visible").evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect(); return [e.outerHTML.slice(0, 60), r.right]; })"
        ):
            assert box[1] <= client + 0.5, f"{url} at {width} px: {box[0]} sticks out"
    context.close()
