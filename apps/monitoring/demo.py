"""DEMO of the drift loop (``manage.py demo_drift``): traffic whose distribution shifts halfway,
sent through the gateway to an endpoint a person deployed, a capture-volume monitor on it,
and a local webhook receiver that prints the signed deliveries it verifies.

Nothing here runs in the product's own paths: the command is a way to try the loop on
``make run`` in a few minutes. The traffic is the deployed model's own training rows, sampled;
after the shift, a few numeric features move by ``shift`` standard deviations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd

TIMESTAMP_HEADER, SIGNATURE_HEADER = "X-Atrium-Timestamp", "X-Atrium-Signature"  # the documented contract
FRESH_SECONDS = 300  # a delivery older than this is refused: a replay


@dataclass
class Deliveries:
    secret: str = ""
    received: list[dict] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def verified(secret: str, timestamp: str, body: bytes, sent: str) -> bool:
    """What a receiver checks: HMAC-SHA256 of "<timestamp>.<body>" under the shared secret, and freshness."""
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    try:
        fresh = abs(time.time() - int(timestamp)) <= FRESH_SECONDS
    except ValueError:
        return False
    return fresh and hmac.compare_digest(expected, sent)


def webhook_receiver(*, port: int, deliveries: Deliveries, say) -> ThreadingHTTPServer:
    """A tiny local receiver on 127.0.0.1:``port``, in a thread: each POST verified and printed."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stamp, sent = self.headers.get(TIMESTAMP_HEADER, ""), self.headers.get(SIGNATURE_HEADER, "")
            ok = verified(deliveries.secret, stamp, body, sent)
            self.send_response(204 if ok else 401)
            self.end_headers()
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            with deliveries.lock:
                if ok:
                    deliveries.received.append(payload)
                else:
                    deliveries.refused += 1
            alert = payload.get("alert") or {}
            what = alert.get("message") or payload.get("event", "?")
            say(f"  webhook: {payload.get('event', '?')} — {what} (signature {'verified' if ok else 'REFUSED'})")

        def log_message(self, *args):  # the command prints what matters
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=server.serve_forever, name="demo-webhook", daemon=True).start()
    return server


def shifted_columns(features: pd.DataFrame, count: int) -> list[str]:
    """The numeric features that move after the shift: the first ``count`` with some spread."""
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c]) and features[c].std() > 0]
    return numeric[:count]


def phase_rows(
    features: pd.DataFrame, labels: pd.Series | None, *, rows: int, moved: list[str], shift: float, seed: int
) -> pd.DataFrame:
    """``rows`` training rows sampled (with replacement); ``moved`` columns up by ``shift`` std."""
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(features), rows)
    frame = features.iloc[picked].reset_index(drop=True)
    if labels is not None:
        frame[labels.name] = labels.iloc[picked].to_numpy()
    for column in moved:
        frame[column] = frame[column] + shift * features[column].std()
    return frame


def send(client, url: str, key: str, frame: pd.DataFrame, per_request: int) -> tuple[int, int]:
    """The rows as scoring requests of ``per_request`` rows; (answered 2xx, refused)."""
    ok = failed = 0
    records = json.loads(frame.to_json(orient="records"))
    for start in range(0, len(records), per_request):
        answer = client.post(
            url,
            json={"dataframe_records": records[start : start + per_request]},
            headers={"Authorization": f"Bearer {key}"},
        )
        if answer.status_code < 300:
            ok += 1
        else:
            failed += 1
            if failed == 1:
                print(f"  the gateway answered {answer.status_code}: {answer.text[:300]}")
    return ok, failed
