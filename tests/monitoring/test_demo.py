"""The drift demo's parts (``manage.py demo_drift``): the local webhook receiver verifies what
the portal's own signer sends (and refuses a forged or stale delivery), and the demo's traffic
moves exactly the features it names, by the std devs it says. The whole command needs the
``make run`` stack (gateway, worker, a deployed model): README, Monitoring, "Try the loop"."""

import hmac
import time

import httpx
import pandas as pd
import pytest

from apps.monitoring import demo
from tests.conftest import free_port


def test_the_demo_receiver_verifies_the_portals_signature_and_refuses_forgeries(settings):
    from apps.core.crypto import encrypt_json
    from apps.notifications.webhooks import webhook_send

    settings.WEBHOOKS_ALLOW_LOCAL_NETWORK = True  # the demo's receiver is on this machine, as under `make run`
    printed = []
    deliveries = demo.Deliveries(secret="s3cret")
    port = free_port()
    server = demo.webhook_receiver(port=port, deliveries=deliveries, say=printed.append)
    url = f"http://127.0.0.1:{port}/atrium"
    try:
        payload = {"event": "alert.opened", "alert": {"message": "Dataset drift: 3 of 30 columns drifted."}}
        assert webhook_send(url=url, stored_secret=encrypt_json({"secret": "s3cret"}), payload=payload) == 204
        assert webhook_send(url=url, stored_secret=encrypt_json({"secret": "other"}), payload=payload) == 401
        stale = str(int(time.time()) - 3600)
        body = b'{"event":"test"}'
        old = httpx.post(
            url,
            content=body,
            headers={
                "X-Atrium-Timestamp": stale,
                "X-Atrium-Signature": "sha256="
                + hmac.new(b"s3cret", stale.encode() + b"." + body, "sha256").hexdigest(),
            },
        )
        assert old.status_code == 401  # signed right, but a replay
    finally:
        server.shutdown()
    assert deliveries.received == [payload] and deliveries.refused == 2
    assert printed[0] == "  webhook: alert.opened — Dataset drift: 3 of 30 columns drifted. (signature verified)"


def test_the_demo_traffic_moves_the_named_features_only():
    features = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0, 20.0, 30.0, 40.0], "c": ["x", "y", "x", "y"]})
    labels = pd.Series([0, 1, 0, 1], name="approved")
    moved = demo.shifted_columns(features, 1)
    assert moved == ["a"]  # numeric, in order; a text column never moves
    before = demo.phase_rows(features, labels, rows=400, moved=[], shift=2.0, seed=3)
    after = demo.phase_rows(features, labels, rows=400, moved=moved, shift=2.0, seed=3)
    assert list(after.columns) == ["a", "b", "c", "approved"]
    assert (after["a"] - before["a"]).round(9).unique().tolist() == [pytest.approx(2.0 * features["a"].std())]
    assert after["b"].equals(before["b"]) and after["approved"].equals(before["approved"])
