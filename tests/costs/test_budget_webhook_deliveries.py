"""How each budget alert's webhook delivery went, recorded on the alert and shown beside it on
the Budgets page: delivered with the receiver's status; a failing receiver tried again as
before (backoff, five retries) and the last failure kept with its reason and the attempts;
a URL now on the portal's own network refused at once with the reason. A real HTTP receiver
(``webhook_receiver``) answers; the delivery task runs in process, its retries with it (Celery's
``apply`` runs a retry at once instead of after its countdown). The secret and the signature
are never recorded."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.costs import tasks, webhooks
from apps.costs.budgets import budget_alerts_check
from apps.costs.models import BudgetAlert
from apps.notifications.webhooks import secret_store

from .factories import add_days, make_budget

pytestmark = pytest.mark.django_db

SECRET = "s3cret-shared-with-the-receiver"
ATTEMPTS = tasks.deliver_budget_webhook.max_retries + 1


@pytest.fixture
def hooked(team, webhook_receiver, monkeypatch):
    """A budget of 1,000 a month with a webhook, spending toward one alert (the forecast reaching
    its only threshold, 50%); its deliveries run in this process as the worker would run them."""
    url, received = webhook_receiver
    budget = make_budget(team=team, thresholds=[50])
    budget.webhook_url, budget.webhook_secret = url, secret_store(SECRET)
    budget.save()
    add_days(first=date(2026, 11, 1), days=10, amount=30, team=team)  # 300 spent, 900 forecast
    monkeypatch.setattr(webhooks, "deliver_later", lambda *args: tasks.deliver_budget_webhook.apply(args=args))
    return budget, received


def alert_now(django_capture_on_commit_callbacks, execute=True) -> BudgetAlert:
    with django_capture_on_commit_callbacks(execute=execute):
        (alert,) = budget_alerts_check(as_of=date(2026, 11, 10))
    alert.refresh_from_db()
    return alert


def delivery_line(client) -> str:
    page = client.get("/costs/budgets/").content.decode()
    start = page.index('data-testid="webhook-delivery"')
    return page[page.index(">", start) + 1 : page.index("</span>", start)]


def never_recorded(alert: BudgetAlert) -> None:
    fields = " ".join(str(v) for v in BudgetAlert.objects.filter(pk=alert.pk).values().get().values())
    assert SECRET not in fields and "sha256=" not in fields


def test_a_delivered_alert_says_so_with_the_receivers_status(
    hooked, manager_client, django_capture_on_commit_callbacks
):
    budget, received = hooked
    alert = alert_now(django_capture_on_commit_callbacks)
    assert len(received) == 1
    assert (alert.webhook_state, alert.webhook_status_code, alert.webhook_attempts) == ("delivered", 204, 1)
    assert alert.webhook_event == "budget.alert" and alert.webhook_attempted_at is not None and not alert.webhook_error
    line = delivery_line(manager_client)
    assert line.startswith("Webhook: delivered (204) · last attempt <time") and "just now" in line
    never_recorded(alert)

    # handed out again (a worker stopped before acknowledging it): nothing is posted twice
    tasks.deliver_budget_webhook.apply(args=[str(budget.pk), {"event": "budget.alert"}, alert.pk])
    assert len(received) == 1


def test_a_failing_receiver_is_tried_again_and_its_last_answer_kept(
    hooked, manager_client, django_capture_on_commit_callbacks
):
    budget, received = hooked
    received.answers = [500] * ATTEMPTS
    alert = alert_now(django_capture_on_commit_callbacks)
    assert len(received) == ATTEMPTS  # the retries as they always were: five after the first
    assert (alert.webhook_state, alert.webhook_attempts, alert.webhook_status_code) == ("failed", ATTEMPTS, 500)
    assert alert.webhook_error == "The receiver answered 500"
    line = delivery_line(manager_client)
    assert line.startswith(f"Webhook: failed after {ATTEMPTS} attempts — the receiver answered 500 · last attempt")
    never_recorded(alert)


def test_a_receiver_back_after_a_failure_gets_the_alert(hooked, manager_client, django_capture_on_commit_callbacks):
    budget, received = hooked
    received.answers = [503]
    alert = alert_now(django_capture_on_commit_callbacks)
    assert len(received) == 2
    assert (alert.webhook_state, alert.webhook_attempts, alert.webhook_status_code) == ("delivered", 2, 204)
    assert delivery_line(manager_client).startswith("Webhook: delivered after 2 attempts (204)")


def test_a_receiver_that_turns_the_alert_down_is_not_asked_again(hooked, django_capture_on_commit_callbacks):
    budget, received = hooked
    received.answers = [401]  # e.g. its secret is not the budget's: trying again cannot help
    alert = alert_now(django_capture_on_commit_callbacks)
    assert len(received) == 1
    assert (alert.webhook_state, alert.webhook_attempts, alert.webhook_status_code) == ("failed", 1, 401)
    assert alert.webhook_summary == "failed — the receiver answered 401"


def test_an_alert_waits_for_the_worker_and_says_so(hooked, manager_client, django_capture_on_commit_callbacks):
    budget, received = hooked
    alert = alert_now(django_capture_on_commit_callbacks, execute=False)  # not committed to a worker yet
    assert (alert.webhook_state, alert.webhook_attempts) == ("waiting", 0) and received == []
    assert delivery_line(manager_client) == "Webhook: waiting to be sent"


def test_a_refused_delivery_is_recorded_with_the_reason(
    hooked, manager_client, settings, django_capture_on_commit_callbacks
):
    budget, received = hooked
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False  # the receiver is on 127.0.0.1: refused now
    alert = alert_now(django_capture_on_commit_callbacks)
    assert received == []
    assert (alert.webhook_state, alert.webhook_attempts, alert.webhook_status_code) == ("refused", 1, None)
    reason = "Webhooks may not be sent to the portal's own network (127.0.0.1 is a loopback address)."
    assert alert.webhook_error.startswith(f"Refused: {reason}")
    line = delivery_line(manager_client)
    assert line.startswith("Webhook: refused — webhooks may not be sent to the portal&#x27;s own network (127.0.0.1")


def test_a_webhook_removed_before_the_worker_came_is_not_left_waiting(hooked, team, django_capture_on_commit_callbacks):
    budget, received = hooked
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (alert,) = budget_alerts_check(as_of=date(2026, 11, 10))
    type(budget).objects.filter(pk=budget.pk).update(webhook_url="", webhook_secret="")
    for callback in callbacks:
        callback()
    alert.refresh_from_db()
    assert received == [] and alert.webhook_state == "failed"
    assert alert.webhook_error == "Not sent: the webhook was removed before it could be delivered."


def test_alerts_without_a_webhook_say_nothing_of_one(team, manager_client):
    make_budget(team=team, thresholds=[50])
    add_days(first=date(2026, 11, 1), days=10, amount=30, team=team)
    (alert,) = budget_alerts_check(as_of=date(2026, 11, 10))
    alert.refresh_from_db()
    assert alert.webhook_state == "" and alert.webhook_summary == ""
    assert 'data-testid="webhook-delivery"' not in manager_client.get("/costs/budgets/").content.decode()


def test_the_recent_alerts_are_read_in_constant_queries(team, manager_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get("/costs/budgets/").status_code == 200
        return len(captured)

    def alerts(budget, thresholds, state):
        for threshold in thresholds:
            BudgetAlert.objects.create(
                budget=budget,
                month=date(2026, 11, 1),
                threshold=threshold,
                kind="actual",
                spent=1,
                webhook_state=state,
                webhook_attempts=1,
                webhook_status_code=500,
                webhook_error="The receiver answered 500",
            )

    alerts(make_budget(team=team), [50], "failed")
    few = queries()
    alerts(make_budget(team=team, project="p2"), [50, 80, 100], "delivered")
    alerts(make_budget(team=team, project="p3"), [60, 90], "failed")
    page = manager_client.get("/costs/budgets/").content.decode()
    assert page.count('data-testid="webhook-delivery"') == 6
    assert queries() == few
