"""The Costs page in a real browser (Debian's chromium via Playwright, against the live
server): a manager sees spend drawn as Plotly charts, changes a filter (stacked by backend
instead of team, the last 30 days), sees the charts redrawn for it, the performance section
and asks the idle endpoint's owners to scale it down. A few seconds: no worker, no backend."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.costs.factories import add_cost
from tests.e2e.test_browser import browser, log_in  # noqa: F401 - browser: a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_reads_costs_and_changes_a_filter(browser, live_server, make_user, team):  # noqa: F811
    from playwright.sync_api import expect

    from apps.accounts.models import Role
    from apps.deployments.models import Endpoint, EndpointState, Variant

    manager = make_user("costs-manager", role=Role.MANAGER)
    today = timezone.localdate()
    for n in range(60):
        day = today - timedelta(days=n)
        add_cost(day=day, amount="3.00", team=team, backend="sagemaker", service="AmazonSageMaker", model_name="churn")
        add_cost(day=day, amount="1.00", team=team, backend="local", service="compute")
    endpoint = Endpoint.objects.create(
        team=team, backend="local", source="local", name="churn-idle", state=EndpointState.IN_SERVICE
    )
    Variant.objects.create(endpoint=endpoint, name="a", model_name="churn", model_version="1", target="cpu")
    add_cost(day=today, amount="5.00", team=team, endpoint="churn-idle", service="serving")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, live_server.url, manager.username)
    page.goto(f"{live_server.url}/costs/")
    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    spend = page.get_by_test_id("cost-spend")
    expect(spend.get_by_role("heading", name="Spend per day by team")).to_be_visible()
    expect(page.locator('[data-testid="chart-spend"][data-drawn="true"] .main-svg').first).to_be_visible()
    expect(page.get_by_test_id("performance-section")).to_be_visible()
    # Asking the idle endpoint's owners: the button submits the page's one form (with its CSRF token).
    idle = page.get_by_test_id("idle-endpoints")
    page.once("dialog", lambda dialog: dialog.accept())
    idle.get_by_test_id("ask-owners").click()
    expect(page.get_by_text("The owners of churn-idle were asked to scale it down or delete it.")).to_be_visible()
    expect(idle.get_by_test_id("asked")).to_contain_text(f"owners asked {today:%Y-%m-%d} by {manager.username}")
    expect(idle.get_by_test_id("ask-owners")).to_have_count(0)

    # The filter change: stacked by backend, over the last 30 days.
    filters = page.get_by_test_id("cost-filters")
    filters.get_by_label("Stacked by").select_option("backend")
    filters.get_by_label("Period").select_option("30")
    filters.get_by_role("button", name="Show").click()
    page.wait_for_url("**/costs/?*stack=backend*")
    expect(spend.get_by_role("heading", name="Spend per day by backend")).to_be_visible()
    chart = page.locator('[data-testid="chart-spend"][data-drawn="true"]')
    expect(chart.locator(".legendtext", has_text="sagemaker")).to_be_visible()
    expect(chart.locator(".legendtext", has_text="local")).to_be_visible()
    # 30 days of 3.00 + 1.00, and the idle endpoint's 5.00
    expect(page.get_by_test_id("cost-total")).to_have_text("125.00")
    context.close()
