"""Under the Content-Security-Policy, in a real browser (Debian's chromium,
Playwright): htmx, the schema form and Plotly charts work, and the browser
reports no violation (issue 15: CSP without unsafe-inline scripts)."""

import pytest

from tests.e2e.test_browser import browser, log_in  # noqa: F401 - the fixture is used as an argument

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture
def charted_model(team):
    from apps.registry.models import ModelVersion, RegisteredModel

    model = RegisteredModel.objects.create(
        team=team, backend="local", source="local", name="csp-model", primary_metric="accuracy", version_count=3
    )
    for number, accuracy in enumerate([0.81, 0.86, 0.9], 1):
        ModelVersion.objects.create(model=model, version=str(number), number=number, metrics={"accuracy": accuracy})
    return model


def test_htmx_forms_and_plotly_work_under_the_policy(browser, live_server, ds, charted_model, mini):  # noqa: F811
    page = browser.new_page()
    page.add_init_script(WATCH_VIOLATIONS)
    console = []
    page.on("console", lambda message: console.append(message.text))
    log_in(page, live_server.url, "ds")

    violations = []
    page.goto(f"{live_server.url}{charted_model.get_absolute_url()}")
    page.wait_for_selector('[data-chart][data-drawn="true"] .main-svg', timeout=20_000)  # Plotly drew it
    assert page.evaluate("typeof window.htmx") == "object"
    violations += page.evaluate("window.__csp")
    page.goto(f"{live_server.url}/catalog/mini/launch/")
    page.wait_for_selector("form")
    violations += page.evaluate("window.__csp")
    page.goto(f"{live_server.url}/runs/")
    assert page.evaluate("typeof window.htmx") == "object"
    violations += page.evaluate("window.__csp")

    assert violations == [], violations
    assert not [line for line in console if "Content Security Policy" in line], console
