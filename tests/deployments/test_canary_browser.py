# ruff: noqa: F811 - fixtures imported from the e2e and gateway suites are used as arguments
"""Watching a canary advance on the endpoint page, in a real browser (Debian's
chromium via Playwright, against the live server), with a real worker running
the rollout (the test is its beat), real local model servers answering and a
real gateway in front of them whose traffic the controller judges. ``ds``
deploys a second version from the page as a 10% canary with a 5 s bake, then
watches, without reloading: the 90/10 split, the stage baking with the
figures it is judged on, the candidate promoted to 100%, and the history
saying so. The page fits 768 px without horizontal overflow throughout, and
passes axe-core (no serious or critical violation)."""

import time
import uuid

import pytest
from django.conf import settings as django_settings

from apps.deployments import services
from apps.deployments.models import Endpoint
from apps.runs.models import RunStatus
from tests.conftest import beat_tick, wait_for_run
from tests.e2e.test_browser import SCREENSHOTS, browser, log_in  # noqa: F401 - browser: a fixture
from tests.e2e.test_layout_browser import axe_source, overflow  # noqa: F401 - axe_source: a fixture
from tests.gateway.conftest import key_for, log_tiny_model, make_gateway  # noqa: F401 - make_gateway: a fixture

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RECORDS = {"dataframe_records": [{"x1": 0.0, "x2": 0.1}]}
NAME = "canary-page"


@pytest.fixture
def model(settings, mlflow_server, celery_worker, team):
    """Two versions of a fresh model in the session's MLflow, tagged with the team and
    mirrored into Models (so the deploy form offers them); the endpoint's server removed after."""
    from mlflow import MlflowClient

    from apps.backends.local.backend import LocalBackend
    from apps.registry.sync import Source, source_sync

    settings.MLFLOW_TRACKING_URI = mlflow_server
    name = f"canary-page-{uuid.uuid4().hex[:6]}"
    versions = [log_tiny_model(mlflow_server, name) for _ in range(2)]
    MlflowClient(mlflow_server).set_registered_model_tag(name, "team", team.slug)
    assert not source_sync(source=Source(kind="local")).errors
    yield name, versions
    LocalBackend(
        jobs_dir=django_settings.LOCAL_JOBS_DIR, tracking_uri=mlflow_server, data_root=django_settings.DATA_ROOT
    ).delete_endpoint(NAME)


def _text(page, test_id: str) -> str:
    found = page.get_by_test_id(test_id)
    return found.first.inner_text() if found.count() else ""


def test_ds_watches_a_canary_advance_to_all_traffic(browser, live_server, ds, model, make_gateway, axe_source):
    from playwright.sync_api import expect

    name, (first, second) = model
    wait_for_run(services.deployment_start(user=ds, endpoint=NAME, model_name=name, model_version=first), {"succeeded"})
    endpoint = Endpoint.objects.get(name=NAME)
    _, key = key_for(endpoint, ds)
    gateway = make_gateway()
    baseline, candidate = f"{name}-v{first}", f"{name}-v{second}"

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, ds.username)
    page.goto(f"{live_server.url}{endpoint.get_absolute_url()}")
    page.get_by_role("link", name="Deploy another version here").click()
    page.get_by_label("Model version").select_option(label=f"{name} v{second}")
    assert page.get_by_label("Endpoint name").input_value() == NAME
    page.get_by_label("Rollout", exact=True).select_option("canary")
    page.get_by_label("Canary share (%)").fill("10")
    page.get_by_label("Bake time (s)").fill("5")
    # A freshly loaded variant answers slower on a busy machine: this test watches a healthy canary advance.
    page.get_by_label("Roll back above the baseline's p95 times").fill("100")
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.wait_for_url(f"{live_server.url}{endpoint.get_absolute_url()}")
    page.evaluate("window.__atriumNoReload = true")  # a full reload would wipe it
    live = page.get_by_test_id("endpoint-live")
    assert live.get_attribute("hx-trigger") == "every 2s"  # polling while the rollout runs

    def weight(variant: str) -> str:
        row = page.locator(f"[data-testid=variant][data-variant='{variant}'] [data-testid=weight]")
        return row.inner_text() if row.count() else ""

    seen = {"split": False, "judged": False, "overflow": []}
    deadline = time.monotonic() + 180
    while _text(page, "rollout-status") != "Succeeded":
        assert time.monotonic() < deadline, f"the page never showed the rollout end: {live.inner_text()}"
        assert _text(page, "rollout-status") not in ("Failed", "Cancelled"), live.inner_text()
        stage = page.locator("[data-testid=stage][data-stage=stage-1]")
        if "Running" in (stage.inner_text() if stage.count() else ""):
            for _ in range(25):  # traffic through the gateway, split by the stage's weights
                assert gateway.post(f"/serve/{NAME}/invocations", key, json=RECORDS).status_code == 200
        if not seen["split"] and weight(candidate) == "10%" and weight(baseline) == "90%":
            # The stage live: its split, its verdict so far, and the figures it is judged on.
            seen["split"] = True
            expect(stage).to_contain_text(f"Stage 1 of 1: 10% to {candidate}")
            page.set_viewport_size({"width": 768, "height": 900})
            seen["overflow"].append(overflow(page))
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "deployments-canary-768.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 900})
        figures = stage.get_by_test_id("stage-figures")
        if not seen["judged"] and figures.count():
            cells = figures.locator("tr[data-role=candidate] td")
            message = stage.get_by_test_id("stage-message").inner_text()
            if cells.nth(1).inner_text() != "0" and "Baking" in message:
                seen["judged"] = True
                assert cells.nth(0).inner_text() == candidate
                assert figures.locator("tr[data-role=baseline] td").nth(0).inner_text() == baseline
                assert "error rate" in message or "requests needed to judge" in message, message
        beat_tick()
        time.sleep(0.3)

    assert seen["split"], "the page never showed the 90/10 split"
    assert seen["judged"], "the page never showed the figures the stage is judged on"
    run = endpoint.events.filter(run__isnull=False).first().run
    assert run.status == RunStatus.SUCCEEDED
    # Promoted: the candidate alone at 100%, the stages done, the history saying what happened and why.
    expect(page.locator("[data-testid=variant]")).to_have_count(1)
    assert weight(candidate) == "100%"
    expect(page.locator("[data-testid=stage][data-stage=stage-1]")).to_contain_text("Healthy: error rate 0.0%")
    history = page.get_by_test_id("history")
    expect(history).to_contain_text(f"Promoted: {candidate}")
    expect(history).to_contain_text(f"All traffic to {candidate}; {baseline} drains")
    expect(history).to_contain_text(f"Stage 1 of 1: 10% of traffic to {candidate}, baking 5 s")
    expect(page.get_by_role("heading", name="Last rollout")).to_be_visible()
    assert page.evaluate("window.__atriumNoReload") is True, "the page was reloaded instead of updated in place"
    assert live.get_attribute("hx-trigger") is None  # the rollout is over: polling stopped

    page.set_viewport_size({"width": 768, "height": 900})
    seen["overflow"].append(overflow(page))
    page.screenshot(path=str(SCREENSHOTS / "deployments-promoted-768.png"), full_page=True)
    assert not any(seen["overflow"]), seen["overflow"]
    # axe-core, as the main pages' layout test runs it (injected by evaluation: the CSP forbids inline scripts).
    page.evaluate(axe_source)
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id}: ${v.help} (${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")})`)"""
    )
    assert not found, found
    assert not errors, errors
    context.close()
