# ruff: noqa: F811 - the browser fixture is imported from the e2e suite
"""The Monitoring dashboard in a real browser (Debian's chromium via Playwright, against the
live server): a monitor with three stored windows draws its drift share over time (three
points, the threshold line), the overlay of the most drifted feature, and choosing another
feature redraws the overlay with that feature's bars. The windows are computed in-process as
the beat would; the page only reads them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.monitoring import compute
from apps.monitoring.services import monitor_create
from tests.e2e.test_browser import browser, log_in  # noqa: F401 - a fixture
from tests.monitoring.conftest import frame

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def windows(ds, datasets, settings):
    """A dataset monitor and three windows: calm, then income moving with a new city."""
    from pathlib import Path

    reference = datasets("train.parquet", frame(400))
    current = datasets("current.parquet", frame(400, seed=8))
    monitor = monitor_create(user=ds, name="loans inputs", dataset=current, reference=reference)
    now = timezone.now()
    for hours_ago, data in ((2, frame(400, seed=8)), (1, frame(400, shift=2, new_city=True)), (0, frame(400, shift=3))):
        data.to_parquet(Path(settings.DATA_ROOT) / current, index=False)
        compute.monitor_evaluate(monitor_id=monitor.pk, now=now - timedelta(hours=hours_ago))
    return monitor


def logged_in(browser, live_server, user, *, width: int):
    """A page logged in as ``user``, and the script errors it meets (a test ends with none)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(10_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, user.username)
    return page, errors


def _figure(page, chart: str) -> dict:
    """What Plotly drew in the chart's element: its traces' x and y, and its title."""
    return page.evaluate(
        """(chart) => {
        const el = document.querySelector(`[data-chart="${chart}"]`);
        return {title: (el.layout.title || {}).text || "", traces: el.data.map(t => ({x: t.x, y: t.y, name: t.name}))};
    }""",
        chart,
    )


def test_the_dashboard_draws_drift_over_time_and_the_chosen_features_overlay(
    browser, live_server, ds, datasets, settings
):
    from playwright.sync_api import expect

    monitor = windows(ds, datasets, settings)
    page, errors = logged_in(browser, live_server, ds, width=1400)

    page.goto(f"{live_server.url}/monitoring/")
    page.get_by_role("link", name="loans inputs").click()
    page.wait_for_url(f"{live_server.url}{monitor.get_absolute_url()}")
    expect(page.locator('[data-chart="drift-share"][data-drawn="true"]')).to_be_visible()
    share = _figure(page, "drift-share")
    assert share["title"].startswith("Drift share over time")
    assert len(share["traces"][0]["y"]) == 3 and share["traces"][0]["y"][0] < share["traces"][0]["y"][-1]

    # the overlay is the most drifted feature's (income), reference and current bars
    expect(page.locator('[data-chart="overlay"][data-drawn="true"]')).to_be_visible()
    first = _figure(page, "overlay")
    assert first["title"].startswith("income") and {t["name"] for t in first["traces"]} == {"reference", "current"}

    page.get_by_test_id("drift-columns").get_by_role("link", name="city").click()
    page.wait_for_url("**feature=city")
    expect(page.get_by_role("heading", name="Reference vs current: city")).to_be_visible()
    expect(page.locator('[data-chart="overlay"][data-drawn="true"]')).to_be_visible()
    chosen = _figure(page, "overlay")
    assert chosen["title"].startswith("city") and set(chosen["traces"][0]["x"]) >= {"Oslo", "Lima", "Pune"}
    assert chosen["traces"][0]["x"] != first["traces"][0]["x"]
    assert not errors, errors


def test_the_monitor_page_sets_its_webhook(browser, live_server, ds, datasets, settings):
    """The webhook's fields on the monitor's page (no API call any more): a bad URL is refused
    beside its field, then a URL and a secret are saved; the URL is shown, the secret never."""
    from playwright.sync_api import expect

    from apps.core.crypto import decrypt_json
    from apps.monitoring.models import Monitor

    reference = datasets("train.parquet", frame(50))
    monitor = monitor_create(user=ds, name="hooked inputs", dataset=reference, reference=reference)
    page, errors = logged_in(browser, live_server, ds, width=1024)
    page.goto(f"{live_server.url}{monitor.get_absolute_url()}")

    webhook = page.get_by_test_id("monitor-webhook")
    expect(webhook).not_to_contain_text("PATCH")
    webhook.get_by_text("Set a webhook").click()
    webhook.get_by_label("Webhook URL").fill("ftp://hooks.example.com/atrium")
    webhook.get_by_label("Webhook secret").fill("s3cret-shared-with-the-receiver")
    webhook.get_by_role("button", name="Save webhook").click()
    expect(webhook.get_by_role("alert")).to_contain_text("An http(s) URL")
    assert Monitor.objects.get(pk=monitor.pk).webhook_url == ""

    webhook.get_by_label("Webhook URL").fill("https://93.184.215.14/atrium")
    webhook.get_by_label("Webhook secret").fill("s3cret-shared-with-the-receiver")
    webhook.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_text("Webhook saved.")).to_be_visible()
    expect(webhook.locator("code").first).to_have_text("https://93.184.215.14/atrium")
    expect(webhook.get_by_test_id("webhook-test")).to_be_visible()
    assert "s3cret-shared-with-the-receiver" not in page.content()
    saved = Monitor.objects.get(pk=monitor.pk)
    assert decrypt_json(saved.webhook_secret)["secret"] == "s3cret-shared-with-the-receiver"
    assert not errors, errors
