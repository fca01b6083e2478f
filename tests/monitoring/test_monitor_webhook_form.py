"""A monitor's webhook set from its pages, as a budget's is: the new-monitor form and the
monitor page take a URL and a secret, with the API's rules (the URL checked by ``url_problem``,
the secret at least 16 characters, stored encrypted and never shown back; on a change a blank
secret keeps the stored one, a blank URL removes the webhook). Bad input is the page again,
400, the message beside the field and nothing saved; every change is audited without the
secret; only the monitor's team's data scientists change it. Deliveries are signed with the
secret typed (checked by a real HTTP receiver)."""

import hashlib
import hmac

import pytest

from apps.audit.models import AuditEvent
from apps.core.crypto import decrypt_json
from apps.monitoring import tasks, webhooks
from apps.monitoring.models import Monitor
from apps.monitoring.services import monitor_create
from tests.conftest import LOCAL_WEBHOOK_URLS
from tests.monitoring.conftest import frame

pytestmark = pytest.mark.django_db

SECRET = "s3cret-shared-with-the-receiver"
PUBLIC_URL = "https://93.184.215.14/atrium"  # a public address: allowed without a lookup


@pytest.fixture
def monitor(ds, datasets):
    reference = datasets("train.parquet", frame(50))
    return monitor_create(user=ds, name="loans", dataset=reference, reference=reference)


def secret_of(monitor) -> str:
    monitor.refresh_from_db()
    return decrypt_json(monitor.webhook_secret).get("secret", "") if monitor.webhook_secret else ""


def field_error(page, field: str) -> str:
    """The message rendered beside ``field`` (the ``_field.html`` paragraph it is in)."""
    html = page.content.decode()
    start = html.index(f'name="{field}"')
    end = html.index("</p>", start)
    assert 'class="error"' in html[start:end], html[start:end]
    first = html.index('role="alert">', start) + len('role="alert">')
    return html[first : html.index("</span>", first)]


def test_the_new_monitor_form_sets_the_webhook_with_the_secret_typed(ds_client, datasets):
    reference = datasets("train.parquet", frame(30))
    form = {
        "name": "hooked",
        "dataset": reference,
        "reference_dataset": reference,
        "window_hours": 24,
        "schedule": "daily",
        "alert_feature_windows": 3,
        "webhook_url": PUBLIC_URL,
        "webhook_secret": SECRET,
    }
    page = ds_client.get("/monitoring/new/").content.decode()
    assert 'name="webhook_url"' in page and 'type="password" name="webhook_secret"' in page

    without = ds_client.post("/monitoring/new/", {**form, "webhook_secret": ""})
    assert without.status_code == 400 and "A secret of at least 16 characters" in field_error(without, "webhook_secret")
    short = ds_client.post("/monitoring/new/", {**form, "webhook_secret": "too-short"})
    assert short.status_code == 400 and field_error(short, "webhook_secret") == "At least 16 characters."
    bad = ds_client.post("/monitoring/new/", {**form, "webhook_url": "ftp://hooks.example.com/x"})
    assert bad.status_code == 400 and field_error(bad, "webhook_url").startswith("An http(s) URL")
    assert not Monitor.objects.exists() and not AuditEvent.objects.filter(action="monitor.create").exists()

    assert ds_client.post("/monitoring/new/", form).status_code == 302
    monitor = Monitor.objects.get(name="hooked")
    assert monitor.webhook_url == PUBLIC_URL and SECRET not in monitor.webhook_secret and secret_of(monitor) == SECRET
    audit = AuditEvent.objects.get(action="monitor.create")
    assert audit.data["webhook_url"] == PUBLIC_URL and audit.data["webhook_secret"] == "replaced"
    assert SECRET not in str(audit.data)
    assert SECRET not in ds_client.get(monitor.get_absolute_url()).content.decode()


def test_the_monitor_page_sets_changes_and_removes_the_webhook(ds_client, monitor):
    page = ds_client.get(monitor.get_absolute_url()).content.decode()
    assert "PATCH /api/v1/monitors" not in page and 'data-testid="monitor-webhook-form"' in page
    url = f"/monitoring/{monitor.pk}/webhook/"

    assert ds_client.post(url, {"webhook_url": PUBLIC_URL, "webhook_secret": SECRET}).status_code == 302
    assert (Monitor.objects.get(pk=monitor.pk).webhook_url, secret_of(monitor)) == (PUBLIC_URL, SECRET)
    shown = ds_client.get(monitor.get_absolute_url()).content.decode()
    assert f"<code>{PUBLIC_URL}</code>" in shown and SECRET not in shown and 'data-testid="webhook-test"' in shown
    assert f'value="{PUBLIC_URL}"' in shown  # the URL is in the form to change; the secret never is

    # another URL, the secret left blank: the stored one stays
    other = "https://93.184.215.15/hooks"
    stored = Monitor.objects.get(pk=monitor.pk).webhook_secret
    assert ds_client.post(url, {"webhook_url": other, "webhook_secret": ""}).status_code == 302
    monitor.refresh_from_db()
    assert monitor.webhook_url == other and monitor.webhook_secret == stored

    changes = AuditEvent.objects.filter(action="monitor.update").order_by("created_at")
    assert [e.data for e in changes] == [
        {"webhook_url": PUBLIC_URL, "webhook_secret": "replaced"},
        {"webhook_url": other},
    ]

    answer = ds_client.post(url, {"webhook_url": "", "webhook_secret": ""}, follow=True)
    assert "Webhook removed." in answer.content.decode()
    monitor.refresh_from_db()
    assert monitor.webhook_url == "" and monitor.webhook_secret == ""


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"webhook_url": "ftp://hooks.example.com/x", "webhook_secret": SECRET}, "webhook_url", "An http(s) URL"),
        ({"webhook_url": "not a url", "webhook_secret": SECRET}, "webhook_url", "An http(s) URL"),
        ({"webhook_url": "https://" + "a" * 500, "webhook_secret": SECRET}, "webhook_url", "Ensure this value"),
        ({"webhook_url": PUBLIC_URL, "webhook_secret": ""}, "webhook_secret", "A secret of at least 16"),
        ({"webhook_url": PUBLIC_URL, "webhook_secret": "short"}, "webhook_secret", "At least 16 characters."),
        ({"webhook_url": "", "webhook_secret": SECRET}, "webhook_url", "A secret needs a webhook URL"),
    ],
)
def test_bad_input_is_a_400_beside_the_field_and_saves_nothing(ds_client, monitor, fields, field, message):
    page = ds_client.post(f"/monitoring/{monitor.pk}/webhook/", fields)
    assert page.status_code == 400 and field_error(page, field).startswith(message)
    assert 'data-testid="monitor-webhook-form"' in page.content.decode() and '<details class="webhook-edit" open>' in (
        page.content.decode()
    )
    monitor.refresh_from_db()
    assert monitor.webhook_url == "" and monitor.webhook_secret == ""
    assert not AuditEvent.objects.filter(action="monitor.update").exists()


@pytest.mark.parametrize("local, why", LOCAL_WEBHOOK_URLS[:2])
def test_a_url_on_the_portals_own_network_is_refused_beside_the_field(ds_client, monitor, settings, local, why):
    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = False
    page = ds_client.post(f"/monitoring/{monitor.pk}/webhook/", {"webhook_url": local, "webhook_secret": SECRET})
    assert page.status_code == 400
    assert field_error(page, "webhook_url").startswith(
        f"Webhooks may not be sent to the portal&#x27;s own network ({why})."
    )
    assert Monitor.objects.get(pk=monitor.pk).webhook_url == ""


def test_only_the_monitors_team_data_scientists_change_it(client, monitor, make_user, other_team, manager):
    url = f"/monitoring/{monitor.pk}/webhook/"
    body = {"webhook_url": PUBLIC_URL, "webhook_secret": SECRET}
    client.force_login(make_user("beta-ds", teams=[other_team]))  # a data scientist of another team
    assert client.post(url, body).status_code == 404
    client.force_login(manager)  # of the monitor's team, who reads it
    assert client.post(url, body).status_code == 403
    assert 'data-testid="monitor-webhook-form"' not in client.get(monitor.get_absolute_url()).content.decode()
    client.logout()
    assert client.post(url, body).status_code == 302  # to log in
    assert Monitor.objects.get(pk=monitor.pk).webhook_url == ""
    assert not AuditEvent.objects.filter(action="monitor.update").exists()


def test_deliveries_are_signed_with_the_secret_typed(
    ds_client, monitor, webhook_receiver, monkeypatch, django_capture_on_commit_callbacks
):
    url, received = webhook_receiver
    assert ds_client.post(f"/monitoring/{monitor.pk}/webhook/", {"webhook_url": url, "webhook_secret": SECRET})
    monkeypatch.setattr(webhooks, "deliver_later", lambda *args: tasks.deliver_webhook.apply(args=args))
    with django_capture_on_commit_callbacks(execute=True):
        answer = ds_client.post(f"/monitoring/{monitor.pk}/webhook-test/", follow=True)
    assert "A signed test delivery is on its way" in answer.content.decode()
    ((headers, body),) = received
    expected = hmac.new(SECRET.encode(), f"{headers['X-Atrium-Timestamp']}.".encode() + body, hashlib.sha256)
    assert headers["X-Atrium-Signature"] == f"sha256={expected.hexdigest()}"


def test_the_api_takes_a_secret_typed_too_and_keeps_making_one_when_none_is_given(api, monitor):
    typed = api.patch(
        f"/api/v1/monitors/{monitor.pk}/", {"webhook_url": PUBLIC_URL, "webhook_secret": SECRET}, format="json"
    )
    assert typed.status_code == 200 and typed.json()["webhook_secret"] == ""  # nothing made, nothing shown
    assert secret_of(monitor) == SECRET
    short = api.patch(f"/api/v1/monitors/{monitor.pk}/", {"webhook_secret": "short"}, format="json")
    assert short.status_code == 400 and short.json()["webhook_secret"] == ["At least 16 characters."]
    rotated = api.patch(f"/api/v1/monitors/{monitor.pk}/", {"rotate_webhook_secret": True}, format="json")
    made = rotated.json()["webhook_secret"]
    assert rotated.status_code == 200 and len(made) >= 16 and secret_of(monitor) == made
