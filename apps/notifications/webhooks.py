"""Signed webhooks, one implementation for every app that posts its alerts to a receiver
(drift monitors, cost budgets): a JSON body POSTed with ``X-Atrium-Timestamp`` (Unix seconds)
and ``X-Atrium-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under
the shared secret. A receiver recomputes it with the secret and refuses a timestamp older
than a few minutes (a replayed delivery)::

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    hmac.compare_digest(f"sha256={expected}", signature_header)

Secrets are stored encrypted (``apps.core.crypto``, as connections' secrets are) and are
never shown back or logged. Deliveries go from a worker after commit, never from inside a
transaction: the apps enqueue them and call ``webhook_send`` from their task."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlsplit

from apps.core.crypto import decrypt_json, encrypt_json

SIGNATURE_HEADER = "X-Atrium-Signature"
TIMESTAMP_HEADER = "X-Atrium-Timestamp"
TIMEOUT_SECONDS = 10
MAX_URL_LENGTH = 500
MIN_SECRET_LENGTH = 16


def secret_new() -> tuple[str, str]:
    """A new secret: (clear, as stored)."""
    clear = secrets.token_urlsafe(32)
    return clear, encrypt_json({"secret": clear})


def secret_store(clear: str) -> str:
    """A secret chosen by a person, as stored (encrypted)."""
    return encrypt_json({"secret": clear})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def url_problem(url: str) -> str:
    """Why ``url`` cannot receive webhooks ("" if it can): an http(s) URL with a host."""
    if len(url) > MAX_URL_LENGTH:
        return f"At most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
    except ValueError:
        return "Not a URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "An http(s) URL, e.g. https://hooks.example.com/atrium."
    return ""


def webhook_send(*, url: str, stored_secret: str, payload: dict) -> int:
    """POST ``payload`` signed; the receiver's status code (raises on a network error)."""
    import httpx

    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    secret = decrypt_json(stored_secret).get("secret", "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Atrium-Webhook/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS, follow_redirects=False)
    return response.status_code
