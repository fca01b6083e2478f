"""How each drift alert's webhook delivery went, recorded on the alert and shown beside it on
the monitor's page and in its alerts API: the opening delivered with the receiver's status;
the resolution then takes the record over; a failing or absent receiver tried again as
before (backoff, five retries) and the last failure kept with its reason and the attempts;
a URL now on the portal's own network refused at once with the reason. A real HTTP receiver
(``webhook_receiver``) answers; the delivery task runs in process, its retries with it
(Celery's ``apply`` runs a retry at once instead of after its countdown)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.monitoring import tasks, webhooks
from apps.monitoring.models import AlertRule, DriftAlert
from apps.monitoring.services import monitor_update
from tests.conftest import free_port
from tests.monitoring.conftest import frame
from tests.monitoring.test_alerts import watched  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

SECRET = "s3cret-shared-with-the-receiver"
ATTEMPTS = tasks.deliver_webhook.max_retries + 1
DRIFTING = {"shift": 2, "new_city": True}


@pytest.fixture
def hooked(watched, ds, webhook_receiver, monkeypatch):  # noqa: F811
    """The monitor with the receiver as its webhook; its deliveries run in this process as the
    worker would run them. (monitor, window, received)"""
    monitor, window = watched
    url, received = webhook_receiver
    monitor_update(user=ds, monitor=monitor, data={"webhook_url": url, "webhook_secret": SECRET})
    monkeypatch.setattr(webhooks, "deliver_later", lambda *args: tasks.deliver_webhook.apply(args=args))
    return monitor, window, received


def evaluated(window, django_capture_on_commit_callbacks, **frame_options) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        window(frame(400, **frame_options) if frame_options else frame(400, seed=10))


def delivery_line(client, monitor) -> str:
    page = client.get(monitor.get_absolute_url()).content.decode()
    start = page.index('data-testid="webhook-delivery"')
    return page[page.index(">", start) + 1 : page.index("</span>", start)]


def api_delivery(api, monitor) -> dict:
    (alert,) = api.get(f"/api/v1/monitors/{monitor.pk}/alerts/").json()["results"]
    return alert["webhook"]


def test_an_opening_delivered_then_a_resolution_that_failed(hooked, ds_client, api, django_capture_on_commit_callbacks):
    monitor, window, received = hooked
    evaluated(window, django_capture_on_commit_callbacks, **DRIFTING)
    (alert,) = DriftAlert.objects.filter(monitor=monitor)
    assert (alert.webhook_state, alert.webhook_event, alert.webhook_status_code) == ("delivered", "alert.opened", 204)
    assert alert.webhook_attempts == 1 and len(received) == 1
    assert delivery_line(ds_client, monitor).startswith("Webhook: delivered (204) · last attempt <time")
    shown = api_delivery(api, monitor)
    assert {k: shown[k] for k in ("state", "event", "attempts", "status_code", "error", "summary")} == {
        "state": "delivered",
        "event": "alert.opened",
        "attempts": 1,
        "status_code": 204,
        "error": "",
        "summary": "delivered (204)",
    }
    assert shown["last_attempt_at"]

    received.answers = [500] * ATTEMPTS
    evaluated(window, django_capture_on_commit_callbacks)  # a calm window: the alert resolves
    alert.refresh_from_db()
    assert not alert.is_open and len(received) == 1 + ATTEMPTS  # the retries as they always were
    assert (alert.webhook_state, alert.webhook_event) == ("failed", "alert.resolved")
    assert (alert.webhook_attempts, alert.webhook_status_code, alert.webhook_error) == (
        ATTEMPTS,
        500,
        "The receiver answered 500",
    )
    line = delivery_line(ds_client, monitor)
    assert line.startswith(f"Webhook (resolved): failed after {ATTEMPTS} attempts — the receiver answered 500 ·")
    shown = api_delivery(api, monitor)
    assert (shown["state"], shown["attempts"], shown["status_code"]) == ("failed", ATTEMPTS, 500)
    assert shown["summary"] == f"failed after {ATTEMPTS} attempts — the receiver answered 500"
    stored = " ".join(str(v) for v in DriftAlert.objects.filter(pk=alert.pk).values().get().values())
    assert SECRET not in stored and "sha256=" not in stored


def test_a_receiver_that_is_not_there_is_tried_again_then_failed_saying_why(
    watched,  # noqa: F811
    ds,
    api,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    monitor, window = watched
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True
    nobody = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    monitor_update(user=ds, monitor=monitor, data={"webhook_url": nobody, "webhook_secret": SECRET})
    monkeypatch.setattr(webhooks, "deliver_later", lambda *args: tasks.deliver_webhook.apply(args=args))
    evaluated(window, django_capture_on_commit_callbacks, **DRIFTING)
    (alert,) = DriftAlert.objects.filter(monitor=monitor)
    assert (alert.webhook_state, alert.webhook_attempts, alert.webhook_status_code) == ("failed", ATTEMPTS, None)
    assert alert.webhook_error.startswith("Could not connect: ")
    assert api_delivery(api, monitor)["summary"].startswith(f"failed after {ATTEMPTS} attempts — could not connect: ")


def test_a_refused_delivery_is_recorded_with_the_reason(
    hooked, ds_client, api, settings, django_capture_on_commit_callbacks
):
    monitor, window, received = hooked
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False  # saved while allowed; an administrator turned it off since
    evaluated(window, django_capture_on_commit_callbacks, **DRIFTING)
    (alert,) = DriftAlert.objects.filter(monitor=monitor)
    assert received == [] and (alert.webhook_state, alert.webhook_attempts) == ("refused", 1)
    reason = "Webhooks may not be sent to the portal's own network (127.0.0.1 is a loopback address)."
    assert alert.webhook_error.startswith(f"Refused: {reason}")
    assert api_delivery(api, monitor)["error"].startswith(f"Refused: {reason}")
    line = delivery_line(ds_client, monitor)
    assert line.startswith("Webhook: refused — webhooks may not be sent to the portal&#x27;s own network (127.0.0.1")


def test_an_alert_of_a_monitor_without_a_webhook_says_nothing_of_one(watched, api, ds_client):  # noqa: F811
    monitor, window = watched
    window(frame(400, shift=2, new_city=True))
    assert api_delivery(api, monitor) is None
    assert 'data-testid="webhook-delivery"' not in ds_client.get(monitor.get_absolute_url()).content.decode()


def test_the_alerts_are_read_in_constant_queries(watched, ds_client, api):  # noqa: F811
    monitor, window = watched

    def queries() -> tuple[int, int]:
        counts = []
        for read in (
            lambda: ds_client.get(monitor.get_absolute_url()),
            lambda: api.get(f"/api/v1/monitors/{monitor.pk}/alerts/"),
        ):
            with CaptureQueriesContext(connection) as captured:
                assert read().status_code == 200
            counts.append(len(captured))
        return tuple(counts)

    def alerts(columns, state):
        for column in columns:
            DriftAlert.objects.create(
                monitor=monitor,
                rule=AlertRule.FEATURE_STREAK,
                column=column,
                message=f"{column} drifted",
                webhook_state=state,
                webhook_event="alert.opened",
                webhook_attempts=ATTEMPTS,
                webhook_status_code=500,
                webhook_error="The receiver answered 500",
            )

    alerts(["income"], "failed")
    queries()  # once first: a token's first use writes when it was used
    few = queries()
    alerts(["age", "city", "x1", "x2"], "delivered")
    assert queries() == few
    assert ds_client.get(monitor.get_absolute_url()).content.decode().count('data-testid="webhook-delivery"') == 5
