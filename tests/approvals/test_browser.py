# ruff: noqa: F811 - fixtures imported from the page tests and the e2e suite are used as arguments
"""The approvals pages in a real browser (Debian's chromium via Playwright,
against the live server): they fit 1400 and 768 px without horizontal
overflow, log no console error and pass axe-core (no serious or critical
violation); the request form's conditional fields follow the choices; an
approver approves inline in the inbox and the row updates in place. No
worker: the evidence run is never run, so the checks are filled in directly
where a figure or a chart is wanted (as the evidence run would)."""

import pytest

from apps.approvals.models import CheckStatus, EvidenceCheck
from apps.approvals.services import promotion_request
from tests.approvals.test_pages import admin, approver, model, pack, production  # noqa: F401 - fixtures
from tests.e2e.test_browser import SCREENSHOTS, browser, log_in  # noqa: F401 - a fixture
from tests.e2e.test_layout_browser import axe_source, overflow  # noqa: F401 - axe_source: a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1400, 768]


def _watch_errors(page) -> list[str]:
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_approvals_pages_fit_and_log_no_error(browser, live_server, admin, ds, model, production, axe_source):
    from playwright.sync_api import expect

    version = model.versions.get(version="3")
    promotion = promotion_request(
        user=ds,
        version=version,
        environment="production",
        reason="A much better recall on the held-out rows, with a reason long enough to wrap " * 3,
    )
    EvidenceCheck.objects.filter(request=promotion, key="champion").update(
        status=CheckStatus.PASSED,
        summary="Accuracy 0.96 against the champion's 0.95 on the same 150 held-out rows.",
        figures={
            "rows_scored": 150,
            "candidate": {"accuracy": 0.96, "log_loss": 0.21},
            "champion": {"accuracy": 0.95, "log_loss": 0.25},
            "per_class": [
                {"class": "setosa", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 50},
                {"class": "versicolor", "precision": 0.94, "recall": 0.94, "f1": 0.94, "support": 50},
            ],
        },
        chart={
            "data": [{"type": "bar", "x": ["accuracy", "log_loss"], "y": [0.96, 0.21], "name": "v3"}],
            "layout": {"title": {"text": "Candidate against champion"}},
        },
    )
    pages = {
        "inbox": "/approvals/?show=all",
        "request": promotion.get_absolute_url(),
        "new": f"/approvals/new/?version={version.pk}",
        "environments": "/approvals/environments/",
        "version": version.get_absolute_url(),
    }
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = _watch_errors(page)
    log_in(page, live_server.url, admin.username)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for name, url in pages.items():
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        response = page.goto(f"{live_server.url}{url}")
        assert response.ok, f"{url}: {response.status}"
        if name == "request":
            expect(page.locator("[data-chart=chart-champion]")).to_have_attribute("data-drawn", "true")
        if name == "version":
            expect(page.get_by_test_id("promotions")).to_contain_text("Waiting for decisions")  # loaded by htmx
        if name == "environments":
            page.locator("details.edit summary").first.click()  # the editor open: it must fit too
            page.locator("details.new-environment summary").click()
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)  # Plotly follows a resize a moment later
            if problem := overflow(page):
                problems.append(f"{name} ({url}) at {width} px: {problem}")
            page.screenshot(path=str(SCREENSHOTS / f"approvals-{name}-{width}.png"), full_page=True)
        # axe-core, as the main pages' layout test runs it (injected by evaluation: the CSP forbids inline scripts).
        page.evaluate(axe_source)
        found = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => `${v.id}: ${v.help} (${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")})`)"""
        )
        problems += [f"{name} ({url}): {violation}" for violation in found]
    assert not problems, "\n".join(problems)

    # The request form: only the chosen strategy's settings show, and "only promote" hides the deployment.
    page.goto(f"{live_server.url}{pages['new']}")
    expect(page.get_by_label("Canary share (%)")).to_be_visible()
    expect(page.get_by_label("Linear step (%)")).to_be_hidden()
    page.get_by_label("Rollout", exact=True).select_option("linear")
    expect(page.get_by_label("Linear step (%)")).to_be_visible()
    expect(page.get_by_label("Canary share (%)")).to_be_hidden()
    page.get_by_label("Don't deploy, only promote").check()
    expect(page.get_by_test_id("deployment-fields")).to_be_hidden()
    assert not errors, errors
    context.close()


def test_an_approver_approves_inline_and_the_row_updates(browser, live_server, approver, ds, model, production):
    from playwright.sync_api import expect

    promotion = promotion_request(user=ds, version=model.versions.get(version="3"), environment="production")
    EvidenceCheck.objects.filter(request=promotion).update(status=CheckStatus.PASSED, summary="fine")
    waiting = promotion_request(user=ds, version=model.versions.get(version="2"), environment="production")

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = _watch_errors(page)
    log_in(page, live_server.url, approver.username)
    page.get_by_role("link", name="Approvals", exact=True).click()
    row = page.locator(f"#request-{promotion.pk}")
    expect(row).to_contain_text("0 of 2 approvals")
    page.evaluate("window.__atriumNoReload = true")  # a full reload would wipe it
    row.get_by_label("Comment on your approval (optional)").fill("Recall is better; latency fine.")
    row.get_by_role("button", name="Approve").click()
    row = page.locator(f"#request-{promotion.pk}")
    expect(row.get_by_test_id("row-success")).to_have_text("Your approval is recorded: 1 of 2.")
    expect(row.get_by_test_id("approvals-count")).to_have_text("1 of 2 approvals")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    assert page.evaluate("window.__atriumNoReload") is True, "the page was reloaded instead of the row"
    assert promotion.decisions.get().comment == "Recall is better; latency fine."

    # A refusal (409: the evidence the policy requires is still being collected) shows in its row, too.
    other = page.locator(f"#request-{waiting.pk}")
    other.get_by_role("button", name="Approve").click()
    expect(page.locator(f"#request-{waiting.pk}").get_by_test_id("row-error")).to_contain_text(
        "still being collected: Champion comparison"
    )
    assert not waiting.decisions.exists()
    errors = [e for e in errors if "409" not in e]  # the browser logs the refused request itself
    assert not errors, errors
    context.close()
