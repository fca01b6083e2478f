"""Budget alerts through a signed webhook, as drift alerts are (one implementation,
apps/notifications/webhooks.py): a real HTTP server on a free port receives the posts, and the
signature verifies with the secret the manager typed; each alert is delivered once; the secret
is stored encrypted and never shown back or logged; a bad URL is a 400; managers of the
budget's team send a test, nobody else."""

import hashlib
import hmac
import json
import logging
import time
from datetime import date

import pytest

from apps.audit.models import AuditEvent
from apps.costs import tasks, webhooks
from apps.costs.budgets import budget_alerts_check
from apps.costs.models import Budget, BudgetAlert
from apps.notifications.models import Notification
from apps.notifications.webhooks import secret_store
from tests.conftest import LOCAL_WEBHOOK_URLS

from .factories import add_days, make_budget

pytestmark = pytest.mark.django_db

SECRET = "s3cret-shared-with-the-receiver"


@pytest.fixture
def in_process(monkeypatch):
    """Deliveries go from a worker after commit: here the task runs in this process."""
    assert tasks.deliver_budget_webhook.name == webhooks.DELIVER_TASK  # the name deliveries are sent by
    monkeypatch.setattr(webhooks, "deliver_later", lambda *args: tasks.deliver_budget_webhook.apply(args=args))


def verified(received) -> list[dict]:
    """The bodies, each after checking its signature as a receiver would."""
    events = []
    for headers, body in received:
        timestamp = headers["X-Atrium-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Atrium-Signature"], f"sha256={expected}")
        assert abs(int(timestamp) - time.time()) < 60
        forged = hmac.new(b"not-the-secret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Atrium-Signature"] != f"sha256={forged}"
        events.append(json.loads(body))
    return events


def test_budget_alerts_reach_a_signed_webhook_once(
    manager_api, team, webhook_receiver, in_process, caplog, django_capture_on_commit_callbacks
):
    url, received = webhook_receiver
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_api.post(
            "/api/v1/budgets/",
            {"team": "alpha", "amount": "1000", "webhook_url": url, "webhook_secret": SECRET},
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["webhook_url"] == url and body["has_webhook_secret"] is True and "webhook_secret" not in body
    budget = Budget.objects.get(pk=body["id"])
    assert budget.webhook_secret and SECRET not in budget.webhook_secret  # stored encrypted
    event = AuditEvent.objects.get(action="budget.created")
    assert event.data["webhook_url"] == url and SECRET not in json.dumps(event.data)

    add_days(first=date(2026, 11, 1), days=10, amount=30, team=team)  # 300 spent, 900 forecast
    with django_capture_on_commit_callbacks(execute=True):
        sent = budget_alerts_check(as_of=date(2026, 11, 10))
    assert sorted((a.kind, a.threshold) for a in sent) == [("forecast", 50), ("forecast", 80)]
    events = verified(received)
    assert sorted((e["alert"]["kind"], e["alert"]["threshold"]) for e in events) == sorted(
        (a.kind, a.threshold) for a in sent
    )
    assert {e["event"] for e in events} == {"budget.alert"}
    assert events[0]["budget"]["team"] == "alpha" and events[0]["budget"]["url"].endswith(
        f"/costs/budgets/{budget.pk}/"
    )
    assert "forecast to spend 900.00 USD" in events[0]["alert"]["message"]
    assert Notification.objects.filter(message=events[0]["alert"]["message"]).exists()  # the same alert in the portal
    delivered = BudgetAlert.objects.filter(budget=budget).values_list("webhook_state", "webhook_status_code")
    assert set(delivered) == {("delivered", 204)}

    # de-duplicated: the beat again sends nothing, and a delivery retried after success posts nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert budget_alerts_check(as_of=date(2026, 11, 10)) == []
    alert = sent[0]
    tasks.deliver_budget_webhook.apply(args=[str(budget.pk), {"event": "budget.alert"}, alert.pk])
    assert len(received) == 2

    with django_capture_on_commit_callbacks(execute=True):
        assert manager_api.post(f"/api/v1/budgets/{budget.pk}/test-webhook/").status_code == 202
    assert [e["event"] for e in verified(received)][-1] == "test"
    assert (
        SECRET not in caplog.text
        and manager_api.get(f"/api/v1/budgets/{budget.pk}/").json().get("webhook_secret") is None
    )


def test_the_budget_page_sets_the_webhook_and_sends_a_test(
    manager_client, team, webhook_receiver, in_process, django_capture_on_commit_callbacks
):
    url, received = webhook_receiver
    budget = make_budget(team=team)
    page = f"/costs/budgets/{budget.pk}/"
    form = {"amount": "1000", "thresholds": "50, 80, 100", "webhook_url": url, "webhook_secret": SECRET}
    assert manager_client.post(page, form).status_code == 302
    shown = manager_client.get(page).content.decode()
    assert url in shown and SECRET not in shown and 'data-testid="webhook-test"' in shown
    budget.refresh_from_db()
    assert budget.webhook_url == url and SECRET not in budget.webhook_secret

    # saved again without a secret: the one stored stays
    assert manager_client.post(page, {**form, "webhook_secret": ""}).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        answer = manager_client.post(f"/costs/budgets/{budget.pk}/test-webhook/", follow=True)
    assert "A signed test delivery is on its way" in answer.content.decode()
    assert [e["event"] for e in verified(received)] == ["test"]

    # an empty URL removes the webhook and its secret; a test is then refused
    assert manager_client.post(page, {**form, "webhook_url": "", "webhook_secret": ""}).status_code == 302
    budget.refresh_from_db()
    assert budget.webhook_url == "" and budget.webhook_secret == ""
    answer = manager_client.post(f"/costs/budgets/{budget.pk}/test-webhook/", follow=True)
    assert "no webhook URL" in answer.content.decode() and len(received) == 1


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"webhook_url": "ftp://hooks.example.com/x", "webhook_secret": SECRET}, "webhook_url"),
        ({"webhook_url": "not a url", "webhook_secret": SECRET}, "webhook_url"),
        ({"webhook_url": "https://" + "a" * 500, "webhook_secret": SECRET}, "webhook_url"),
        ({"webhook_url": "https://93.184.215.14/x"}, "webhook_secret"),
        ({"webhook_url": "https://93.184.215.14/x", "webhook_secret": "short"}, "webhook_secret"),
        ({"webhook_secret": SECRET}, "webhook_url"),
    ],
)
def test_a_bad_webhook_is_a_clear_400_and_changes_nothing(manager_api, manager_client, team, fields, field):
    response = manager_api.post("/api/v1/budgets/", {"team": "alpha", "amount": "5", **fields}, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Budget.objects.exists()
    budget = make_budget(team=team)
    response = manager_api.patch(f"/api/v1/budgets/{budget.pk}/", {"amount": "7", **fields}, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    budget.refresh_from_db()
    assert budget.amount == 1000 and budget.webhook_url == "" and budget.webhook_secret == ""
    page = manager_client.post(f"/costs/budgets/{budget.pk}/", {"amount": "7", "thresholds": "", **fields})
    assert page.status_code == 400
    assert not AuditEvent.objects.filter(action="budget.changed").exists()


def test_only_the_teams_managers_send_a_test(
    api, manager_api, make_user, other_team, team, webhook_receiver, in_process
):
    from apps.accounts.models import Role

    url, received = webhook_receiver
    budget = make_budget(team=team)
    budget.webhook_url = url
    budget.webhook_secret = secret_store(SECRET)
    budget.save()
    assert api.post(f"/api/v1/budgets/{budget.pk}/test-webhook/").status_code == 403  # a data scientist
    theirs = make_budget(team=other_team)
    assert manager_api.post(f"/api/v1/budgets/{theirs.pk}/test-webhook/").status_code == 404
    stranger = make_user("beta-boss", role=Role.MANAGER, teams=[other_team])
    from django.test import Client

    browser = Client()
    browser.force_login(stranger)
    assert browser.post(f"/costs/budgets/{budget.pk}/test-webhook/").status_code == 404
    assert received == []


@pytest.mark.parametrize("url, why", LOCAL_WEBHOOK_URLS)
def test_a_webhook_on_the_portals_own_network_is_a_clear_400_unless_allowed(
    manager_api, manager_client, team, settings, url, why
):
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False
    message = f"Webhooks may not be sent to the portal's own network ({why}). An administrator can allow it"
    fields = {"webhook_url": url, "webhook_secret": SECRET}
    response = manager_api.post("/api/v1/budgets/", {"team": "alpha", "amount": "5", **fields}, format="json")
    assert response.status_code == 400 and response.json()["webhook_url"][0].startswith(message), response.content
    assert not Budget.objects.exists()

    budget = make_budget(team=team)
    response = manager_api.patch(f"/api/v1/budgets/{budget.pk}/", {"amount": "7", **fields}, format="json")
    assert response.status_code == 400 and response.json()["webhook_url"][0].startswith(message)
    page = manager_client.post(f"/costs/budgets/{budget.pk}/", {"amount": "7", "thresholds": "", **fields})
    assert page.status_code == 400 and message.replace("'", "&#x27;") in page.content.decode()
    budget.refresh_from_db()
    assert budget.amount == 1000 and budget.webhook_url == "" and budget.webhook_secret == ""
    assert not AuditEvent.objects.filter(action="budget.changed").exists()

    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True
    response = manager_api.patch(f"/api/v1/budgets/{budget.pk}/", fields, format="json")
    assert response.status_code == 200 and response.json()["webhook_url"] == url


def test_a_budget_alert_to_an_address_now_refused_fails_with_the_reason_and_no_retry(
    manager_api, team, webhook_receiver, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    url, received = webhook_receiver  # allowed while it is saved
    response = manager_api.post(
        "/api/v1/budgets/",
        {"team": "alpha", "amount": "1000", "webhook_url": url, "webhook_secret": SECRET},
        format="json",
    )
    assert response.status_code == 201, response.content
    budget = Budget.objects.get(pk=response.json()["id"])
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False  # ...and an administrator turned it off since

    results = []  # what the worker would record: each delivery task's outcome, run here in process
    monkeypatch.setattr(
        webhooks, "deliver_later", lambda *args: results.append(tasks.deliver_budget_webhook.apply(args=args))
    )
    add_days(first=date(2026, 11, 1), days=10, amount=30, team=team)
    with django_capture_on_commit_callbacks(execute=True):
        sent = budget_alerts_check(as_of=date(2026, 11, 10))
    assert sent and received == []  # the alerts are in the portal; nothing reached the receiver
    assert [r.state for r in results] == ["FAILURE"] * len(sent)
    assert all("(127.0.0.1 is a loopback address)" in str(r.result) for r in results)
    refusals = [r.getMessage() for r in caplog.records if "webhook delivery refused" in r.getMessage()]
    assert len(refusals) == len(sent)  # one attempt each: a refusal is not tried again
    assert refusals[0].startswith(f"Budget {budget.pk}: webhook delivery refused: Webhooks may not be sent")
    assert set(BudgetAlert.objects.filter(budget=budget).values_list("webhook_state", flat=True)) == {"refused"}

    # a test delivery is refused at once, saying why
    with django_capture_on_commit_callbacks(execute=True):
        answer = manager_api.post(f"/api/v1/budgets/{budget.pk}/test-webhook/")
    assert answer.status_code == 409 and "127.0.0.1 is a loopback address" in answer.json()["status"][0]
    assert len(results) == len(sent)
