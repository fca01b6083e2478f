"""The main pages in a real browser, as an admin (who sees every page of the menu)
meets them: they never overflow horizontally at 1920, 1400, 1024 and 768 px, their
filter controls and "More filters" stay on the screen, and axe-core finds no serious
or critical accessibility violation. One browser, one logged-in context: the
viewport is resized between widths, nothing restarted. Screenshots of each page at
each width land in var/test/screenshots/ for a look."""

import fcntl
import json
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.catalog.conftest import shipped_catalog  # noqa: F401 - a fixture
from tests.conftest import ROOT, skip_or_fail
from tests.costs.factories import add_cost
from tests.e2e.test_browser import SCREENSHOTS, browser, log_in  # noqa: F401 - a fixture
from tests.monitoring.conftest import datasets  # noqa: F401 - a fixture
from tests.monitoring.test_dashboard_browser import windows
from tests.registry.factories import make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1920, 1400, 1024, 768]
AXE_FOLDER = ROOT / "var" / "npm-axe"  # var/ is never committed: axe-core comes from npm at test time
AXE_SOURCE = AXE_FOLDER / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's source, from the npm registry, installed once into var/ (both test
    processes may ask at once: a lock file makes the second wait for the first)."""
    AXE_FOLDER.mkdir(parents=True, exist_ok=True)
    with open(AXE_FOLDER / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_SOURCE.exists():
            npm = shutil.which("npm")
            if not npm:
                skip_or_fail("needs npm to install axe-core")
            done = subprocess.run(
                [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(AXE_FOLDER), "axe-core@4"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode or not AXE_SOURCE.exists():
                skip_or_fail(f"npm could not install axe-core: {done.stderr[-500:]}")
    return AXE_SOURCE.read_text()


def overflow(page) -> str:
    """What sticks out at this width ("" when nothing does)."""
    return page.evaluate(
        """() => {
        const client = document.documentElement.clientWidth;
        const scroll = document.documentElement.scrollWidth;
        if (scroll > client) return `the page is ${scroll} px wide in ${client} px`;
        // Each filter control, "More filters" and what it folds, is on the screen.
        for (const el of document.querySelectorAll("form.filters *")) {
          if (!el.matches("input, select, button, summary, label") || !el.checkVisibility()) continue;
          const right = el.getBoundingClientRect().right;
          if (right > client + 0.5) return `${el.outerHTML.slice(0, 80)} ends at ${right} px in ${client} px`;
        }
        return "";
    }"""
    )


def test_main_pages_fit_every_width_and_pass_axe(
    browser,  # noqa: F811
    live_server,
    make_user,
    team,
    make_run,
    shipped_catalog,  # noqa: F811
    axe_source,
    datasets,  # noqa: F811
    settings,
):
    from apps.accounts.models import Role
    from apps.connections.services import connection_create
    from apps.runs.models import RunStatus

    admin = make_user("root", role=Role.ADMIN)
    running = make_run(RunStatus.RUNNING, user=admin, name="a-run-with-a-rather-long-name-to-wrap")
    make_run(RunStatus.SUCCEEDED, user=admin, name="done")
    model = make_model(team=team, name="customer-churn-gradient-boosting-classifier", aliases={"champion": 2})
    connection_create(  # a row on Connections, and one on Audit
        user=admin,
        name="aws-sandbox",
        kind="sagemaker",
        config={
            "region": "us-east-1",
            "execution_role_arn": "arn:aws:iam::123456789012:role/x",
            "output_s3_uri": "s3://bucket/out",
        },
        secrets={},
        teams=[team],
    )
    for n in range(14):  # the Costs page with its charts drawn
        add_cost(day=timezone.localdate() - timedelta(days=n), amount="2.50", team=team, model_name=model.name)
    monitor = windows(admin, datasets, settings)  # a monitor with three windows: its charts and overlay
    pages = {
        "home": "/",
        "getting-started": "/getting-started/",
        "catalogue": "/catalog/",
        "launch": "/catalog/tabular-classifier/launch/",
        "runs": "/runs/",
        "run": running.get_absolute_url(),
        "models": "/models/",
        "model": model.get_absolute_url(),
        "version": f"{model.get_absolute_url()}versions/2/",
        "connections": "/connections/",
        "audit": "/audit/",
        "notifications": "/notifications/",
        "tokens": "/account/tokens/",
        "costs": "/costs/",
        "monitoring": "/monitoring/",
        "monitor": monitor.get_absolute_url(),
    }

    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server.url, admin.username)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    overflows, violations = [], []
    for name, url in pages.items():
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        response = page.goto(f"{live_server.url}{url}")
        assert response.ok, f"{url}: {response.status}"
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            problem = overflow(page)
            # Unfolded, "More filters" fits too, and is a row of its own.
            folded = page.locator("details.more-filters:not([open])")
            if folded.count():
                folded.first.locator("summary").click()
                problem = problem or overflow(page)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}-more.png"), full_page=True)
                page.locator("details.more-filters summary").first.click()
            else:
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
            if problem:
                overflows.append(f"{name} ({url}) at {width} px: {problem}")
        # axe-core at a laptop's width: injected by evaluation (no script tag: the CSP forbids inline ones).
        page.set_viewport_size({"width": 1400, "height": 900})
        page.evaluate(axe_source)
        found = page.evaluate(
            """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
              id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))
            }));
        }"""
        )
        violations += [f"{name} ({url}): {json.dumps(v)}" for v in found]
    context.close()
    assert not overflows and not violations, "\n".join(overflows + violations)


def test_more_filters_folds_the_long_filter_bars_and_opens_when_one_is_in_use(browser, live_server, ds, team):  # noqa: F811
    """Models: search, team and sort stay in view; the rest is behind "More filters",
    which says how many of its filters are on and is open when one is."""
    make_model(team=team, name="folded-filters-model")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(15_000)
    log_in(page, live_server.url, ds.username)
    page.goto(f"{live_server.url}/models/")
    more = page.get_by_test_id("more-filters")
    assert more.get_attribute("open") is None
    assert page.get_by_label("Name").is_visible() and page.get_by_label("Sort by").is_visible()
    assert not page.get_by_label("Approval").is_visible()
    more.locator("summary").click()
    page.get_by_label("Approval").select_option("Approved")  # htmx filters on change
    page.wait_for_url("**approval=Approved**")
    page.goto(page.url)  # the filtered page as a link opens it
    assert page.get_by_test_id("more-filters").get_attribute("open") is not None
    assert "(1 on)" in page.get_by_test_id("more-filters").locator("summary").inner_text()
    assert page.get_by_label("Approval").input_value() == "Approved"
