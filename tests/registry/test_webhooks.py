"""MLflow's registry webhooks: the real tracking server calls the portal
(live server) when a version or an alias changes, and the real worker mirrors
the model at once; deliveries that are unsigned, forged or stale are refused."""

import json
import time

import pytest
from django.urls import reverse

from apps.registry import webhooks
from apps.registry.models import ModelAlias, RegisteredModel
from tests.conftest import wait_until

SECRET = "webhook-secret-for-tests"
URL = "/models/hooks/mlflow/"


def deliver(client, payload: dict, *, secret=SECRET, timestamp=None, delivery_id="d-1"):
    body = json.dumps(payload).encode()
    timestamp = str(int(timestamp or time.time()))
    headers = {"X-MLflow-Delivery-Id": delivery_id, "X-MLflow-Timestamp": timestamp}
    if secret:
        headers["X-MLflow-Signature"] = webhooks.sign(
            secret=secret, delivery_id=delivery_id, timestamp=timestamp, body=body
        )
    return client.post(URL, body, content_type="application/json", headers=headers)


@pytest.mark.django_db
def test_only_signed_fresh_deliveries_are_accepted(client, settings, django_capture_on_commit_callbacks):
    payload = {"entity": "model_version", "action": "created", "data": {"name": "fraud", "version": "3"}}
    settings.MLFLOW_WEBHOOK_SECRET = ""
    assert deliver(client, payload).status_code == 404  # webhooks are off

    settings.MLFLOW_WEBHOOK_SECRET = SECRET
    with django_capture_on_commit_callbacks() as refused:
        assert deliver(client, payload, secret=None).status_code == 401
        assert deliver(client, payload, secret="guessed").status_code == 401
        assert deliver(client, payload, timestamp=time.time() - 3600).status_code == 401  # a replay
        assert deliver(client, {"entity": "model_version", "data": {}}).status_code == 400
        assert client.get(URL).status_code == 405
    assert refused == []  # nothing was synced

    with django_capture_on_commit_callbacks() as accepted:
        response = deliver(client, payload)
    assert response.status_code == 202 and response.json() == {"accepted": "fraud"}
    assert len(accepted) == 1  # one sync of that model, sent to the worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_mlflow_changes_reach_the_mirror_through_the_webhook(
    celery_worker, live_server, local_mlflow, mlflow_logged, model_name, settings
):
    from apps.backends import registry as backend_registry

    client, _, _, register = mlflow_logged
    settings.MLFLOW_WEBHOOK_SECRET = SECRET
    hook_id = webhooks.webhook_ensure(url=live_server.url + reverse("registry:mlflow-webhook"))
    try:
        assert webhooks.webhook_ensure(url=live_server.url + URL) == hook_id  # again: the same webhook
        register(model_name)
        model = wait_until(
            lambda: RegisteredModel.objects.filter(name=model_name, version_count=1).first(),
            30,
            message="the version to be mirrored",
        )
        client.set_registered_model_alias(model_name, "champion", "1")  # changed in MLflow, not the portal
        wait_until(
            lambda: ModelAlias.objects.filter(model=model, alias="champion", version__version="1").exists(),
            30,
            message="the alias to be mirrored",
        )
        log = celery_worker.log_path.read_text()
        assert "sync_local_model[" in log  # the webhook's task did it, not the beat
    finally:
        backend_registry.get_backend("local").delete_registry_webhook(webhooks.WEBHOOK_NAME)
