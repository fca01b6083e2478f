"""Alert rules on a monitor's windows: opened once while the condition holds (however
many windows drift), resolved by the first window back within the thresholds, the team
told in the portal each time."""

import pytest

from apps.audit.models import AuditEvent
from apps.monitoring import compute, tasks, webhooks
from apps.monitoring.models import AlertRule, DriftAlert, Monitor
from apps.monitoring.services import monitor_create
from apps.notifications.models import Notification
from tests.conftest import LOCAL_WEBHOOK_URLS
from tests.monitoring.conftest import api_for, frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def watched(ds, datasets, make_user, team):
    """A dataset monitor whose current file the test rewrites between windows."""
    reference = datasets("train.parquet", frame(400))
    current = datasets("current.parquet", frame(400, seed=8))
    monitor = monitor_create(user=ds, name="loans", dataset=current, reference=reference, alert_feature_windows=2)
    from pathlib import Path

    from django.conf import settings

    path = Path(settings.DATA_ROOT) / current

    def window(data):
        data.to_parquet(path, index=False)
        return compute.monitor_evaluate(monitor_id=monitor.pk)

    return monitor, window


def alerts(monitor, **filters):
    return list(DriftAlert.objects.filter(monitor=monitor, **filters).order_by("created_at"))


def test_dataset_drift_opens_one_alert_and_a_calm_window_resolves_it(watched, ds, manager):
    monitor, window = watched
    assert window(frame(400, seed=9)).dataset_drift is False
    assert not alerts(monitor)

    drifting = frame(400, shift=2, new_city=True)
    assert window(drifting).dataset_drift is True
    assert window(drifting).dataset_drift is True  # a second drifting window: the same alert
    (alert,) = alerts(monitor, rule=AlertRule.DATASET_DRIFT)
    assert alert.is_open and alert.windows == 2 and "features drifted" in alert.message
    told = Notification.objects.filter(message__startswith="Drift alert on loans: the dataset drifted")
    assert sorted(told.values_list("user__username", flat=True)) == sorted([ds.username, manager.username])
    assert told.get(user=ds).url == monitor.get_absolute_url()

    window(frame(400, seed=10))
    alert.refresh_from_db()
    assert not alert.is_open
    assert (
        Notification.objects.filter(user=ds, message__startswith="Resolved on loans: the dataset drifted").count() == 1
    )
    # the next drift is a new alert
    window(drifting)
    assert [a.is_open for a in alerts(monitor, rule=AlertRule.DATASET_DRIFT)] == [False, True]


def test_a_feature_drifting_n_windows_in_a_row_alerts_once(watched):
    monitor, window = watched
    moved = frame(400, shift=1.5, seed=11)  # income moves: one feature of three, no dataset drift
    first = window(moved)
    assert first.column_results.get(column="income").drifted and not first.dataset_drift
    assert not alerts(monitor)  # one window is not a streak (2 here)
    window(frame(400, shift=1.5, seed=12))
    (alert,) = alerts(monitor, rule=AlertRule.FEATURE_STREAK)
    assert alert.column == "income" and alert.message == "income drifted 2 windows in a row."
    window(frame(400, shift=1.5, seed=13))
    (alert,) = alerts(monitor, rule=AlertRule.FEATURE_STREAK)
    assert alert.is_open and alert.windows == 2
    window(frame(400, seed=14))
    alert.refresh_from_db()
    assert not alert.is_open


def test_alerts_are_read_through_the_api_by_the_team_only(watched, api, make_user, other_team):
    monitor, window = watched
    window(frame(400, shift=2, new_city=True))
    listed = api.get(f"/api/v1/monitors/{monitor.pk}/alerts/").json()
    assert listed["count"] == 1 and listed["results"][0]["rule"] == "dataset_drift" and listed["results"][0]["open"]
    outsider = api_for(make_user("outsider", teams=[other_team]))
    assert outsider.get(f"/api/v1/monitors/{monitor.pk}/alerts/").status_code == 404


def test_alerts_reach_a_signed_webhook_verifiable_with_the_secret(
    watched, api, webhook_receiver, monkeypatch, django_capture_on_commit_callbacks
):
    import hashlib
    import hmac
    import json
    import time

    from apps.monitoring import tasks, webhooks

    monitor, window = watched
    url, received = webhook_receiver
    changed = api.patch(f"/api/v1/monitors/{monitor.pk}/", {"webhook_url": url}, format="json")
    assert changed.status_code == 200, changed.content
    secret = changed.json()["webhook_secret"]
    assert secret and api.get(f"/api/v1/monitors/{monitor.pk}/").json().get("webhook_secret") is None  # shown once
    monitor.refresh_from_db()
    assert secret not in monitor.webhook_secret  # stored encrypted

    # deliveries go from a worker after commit: run the task in process
    assert tasks.deliver_webhook.name == webhooks.DELIVER_TASK  # the name deliveries are sent by
    monkeypatch.setattr(webhooks, "deliver_later", lambda *args: tasks.deliver_webhook.apply(args=args))
    with django_capture_on_commit_callbacks(execute=True):
        window(frame(400, shift=2, new_city=True))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/monitors/{monitor.pk}/test-webhook/").status_code == 202

    events = []
    for headers, body in received:
        timestamp = headers["X-Atrium-Timestamp"]
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Atrium-Signature"], f"sha256={expected}")
        assert abs(int(timestamp) - time.time()) < 60
        events.append(json.loads(body))
    assert [e["event"] for e in events] == ["alert.opened", "test"]
    assert events[0]["alert"]["rule"] == "dataset_drift" and events[0]["report"]["dataset_drift"] is True
    assert events[0]["monitor"]["url"].endswith(monitor.get_absolute_url())

    # a wrong secret does not verify
    headers, body = received[0]
    forged = hmac.new(b"not-the-secret", f"{headers['X-Atrium-Timestamp']}.".encode() + body, hashlib.sha256)
    assert headers["X-Atrium-Signature"] != f"sha256={forged.hexdigest()}"
    assert api.patch(f"/api/v1/monitors/{monitor.pk}/", {"webhook_url": "ftp://x"}, format="json").status_code == 400


def test_a_missing_value_jump_alerts_once_and_resolves(watched, ds):
    """Income missing in 30% of the window's rows (none in the reference): up 30 points, more
    than the rule's 10; 5% is within it. A rule at 0 (the default) never fires."""
    monitor, window = watched
    with_gaps = frame(400, seed=11)
    with_gaps.loc[: int(400 * 0.3) - 1, "income"] = None
    window(with_gaps)
    assert not alerts(monitor, rule=AlertRule.MISSING_JUMP)  # off by default

    monitor.alert_missing_jump = 10
    monitor.save()
    window(with_gaps)
    window(with_gaps)  # still missing: the same alert counts the window
    (alert,) = alerts(monitor, rule=AlertRule.MISSING_JUMP)
    assert alert.column == "income" and alert.is_open and alert.windows == 2
    assert "missing in 30% of rows (reference 0%): up 30 points" in alert.message
    assert Notification.objects.filter(user=ds, message__contains="income is missing in 30%").exists()

    few = frame(400, seed=12)
    few.loc[:19, "income"] = None  # 5%
    window(few)
    alert.refresh_from_db()
    assert not alert.is_open


def test_the_missing_jump_is_set_through_the_api_in_points(api, watched):
    monitor, _ = watched
    assert api.patch(f"/api/v1/monitors/{monitor.pk}/", {"alert_missing_jump": 101}, format="json").status_code == 400
    changed = api.patch(f"/api/v1/monitors/{monitor.pk}/", {"alert_missing_jump": 15}, format="json")
    assert changed.status_code == 200 and changed.json()["alert_missing_jump"] == 15


@pytest.mark.parametrize("url, why", LOCAL_WEBHOOK_URLS)
def test_a_webhook_on_the_portals_own_network_is_a_clear_400_unless_allowed(api, datasets, settings, url, why):
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False
    message = f"Webhooks may not be sent to the portal's own network ({why}). An administrator can allow it"
    reference, current = datasets("train.parquet", frame(300)), datasets("current.parquet", frame(300))
    body = {"name": "hooked", "dataset": current, "reference": {"dataset": reference}}
    response = api.post("/api/v1/monitors/", {**body, "webhook_url": url}, format="json")
    assert response.status_code == 400 and response.json()["webhook_url"][0].startswith(message), response.content
    assert not Monitor.objects.exists()

    pk = api.post("/api/v1/monitors/", body, format="json").json()["id"]
    response = api.patch(f"/api/v1/monitors/{pk}/", {"webhook_url": url, "window_hours": 6}, format="json")
    assert response.status_code == 400 and response.json()["webhook_url"][0].startswith(message)
    monitor = Monitor.objects.get(pk=pk)
    assert monitor.webhook_url == "" and monitor.webhook_secret == "" and monitor.window_hours == 24
    assert not AuditEvent.objects.filter(action="monitor.update").exists()

    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True
    response = api.patch(f"/api/v1/monitors/{pk}/", {"webhook_url": url}, format="json")
    assert response.status_code == 200 and response.json()["webhook_url"] == url


def test_an_alert_to_an_address_now_refused_fails_with_the_reason_and_no_retry(
    watched, api, webhook_receiver, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    monitor, window = watched
    url, received = webhook_receiver  # allowed while it is saved
    assert api.patch(f"/api/v1/monitors/{monitor.pk}/", {"webhook_url": url}, format="json").status_code == 200
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False  # ...and an administrator turned it off since

    results = []  # what the worker would record: each delivery task's outcome, run here in process
    monkeypatch.setattr(webhooks, "deliver_later", lambda *args: results.append(tasks.deliver_webhook.apply(args=args)))
    with django_capture_on_commit_callbacks(execute=True):
        window(frame(400, shift=2, new_city=True))
    assert alerts(monitor) and received == []  # the alert is in the portal; nothing reached the receiver
    (result,) = results
    assert result.state == "FAILURE" and "(127.0.0.1 is a loopback address)" in str(result.result)
    refusals = [r.getMessage() for r in caplog.records if "webhook delivery refused" in r.getMessage()]
    assert refusals == [f"Monitor {monitor.pk}: webhook delivery refused: {result.result}"]  # once: no retry

    answer = api.post(f"/api/v1/monitors/{monitor.pk}/test-webhook/")  # a test is refused at once, saying why
    assert answer.status_code == 409 and "127.0.0.1 is a loopback address" in answer.json()["status"][0]
    assert len(results) == 1
