"""Signed webhooks, one implementation for every app that posts its alerts to a receiver
(drift monitors, cost budgets): a JSON body POSTed with ``X-Atrium-Timestamp`` (Unix seconds)
and ``X-Atrium-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under
the shared secret. A receiver recomputes it with the secret and refuses a timestamp older
than a few minutes (a replayed delivery)::

    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    hmac.compare_digest(f"sha256={expected}", signature_header)

Secrets are stored encrypted (``apps.core.crypto``, as connections' secrets are) and are
never shown back or logged. Deliveries go from a worker after commit, never from inside a
transaction: the apps enqueue them and call ``webhook_send`` from their task.

A URL on the portal's own network is refused when saved and again when sent, unless an
administrator allows it (``destinations.py``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlsplit

from django.conf import settings

from apps.core.crypto import decrypt_json, encrypt_json
from apps.core.errors import Conflict, InvalidInput

from .destinations import Refused, Unresolvable, addresses_checked

SIGNATURE_HEADER = "X-Atrium-Signature"
TIMESTAMP_HEADER = "X-Atrium-Timestamp"
TIMEOUT_SECONDS = 10
MAX_URL_LENGTH = 500
MIN_SECRET_LENGTH = 16


def secret_generate() -> str:
    """A new secret, in clear (shown once to whoever asked for it)."""
    return secrets.token_urlsafe(32)


def secret_new() -> tuple[str, str]:
    """A new secret: (clear, as stored)."""
    clear = secret_generate()
    return clear, encrypt_json({"secret": clear})


def secret_store(clear: str) -> str:
    """A secret chosen by a person, as stored (encrypted)."""
    return encrypt_json({"secret": clear})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def url_problem(url: str) -> str:
    """Why ``url`` cannot receive webhooks ("" if it can): an http(s) URL with a host that,
    unless the local network is allowed, resolves to public addresses only."""
    if len(url) > MAX_URL_LENGTH:
        return f"At most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- a port that is not a number raises here
    except ValueError:
        return "Not a URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "An http(s) URL, e.g. https://hooks.example.com/atrium."
    if settings.WEBHOOKS_ALLOW_LOCAL_NETWORK:
        return ""  # any address will do: nothing to look up
    try:
        addresses_checked(url)
    except (Refused, Unresolvable) as error:
        return str(error)
    return ""


def webhook_fields(*, url: str | None, secret: str | None, current_url: str = "", current_secret: str = "") -> dict:
    """The webhook fields to set on what sends alerts (a budget, a monitor), from what a person
    gave: an http(s) URL (``url_problem``) and the secret its deliveries are signed with (at
    least ``MIN_SECRET_LENGTH`` characters, stored encrypted). A URL needs a secret, given now
    or kept from before (``current_secret``): a blank one keeps it. An empty URL removes the
    webhook and its secret. ``url=None``: the URL is left as it is. Raises ``InvalidInput``."""
    if url is None and not secret:
        return {}
    url = current_url if url is None else str(url).strip()
    if url and (problem := url_problem(url)):
        raise InvalidInput.one("webhook_url", problem)
    if not url:
        if secret:
            raise InvalidInput.one("webhook_url", "A secret needs a webhook URL to sign deliveries to.")
        return {"webhook_url": "", "webhook_secret": ""}
    if secret and len(str(secret)) < MIN_SECRET_LENGTH:
        raise InvalidInput.one("webhook_secret", f"At least {MIN_SECRET_LENGTH} characters.")
    if not secret and not current_secret:
        raise InvalidInput.one(
            "webhook_secret",
            f"A secret of at least {MIN_SECRET_LENGTH} characters: the receiver checks each delivery's "
            "signature with it.",
        )
    fields = {"webhook_url": url}
    if secret:
        fields["webhook_secret"] = secret_store(str(secret))
    return fields


def webhook_audit(fields: dict) -> dict:
    """What an audit record says of a webhook change: the URL, and that the secret changed (never the secret)."""
    out = {"webhook_url": fields["webhook_url"]} if "webhook_url" in fields else {}
    if "webhook_secret" in fields:
        out["webhook_secret"] = "replaced" if fields["webhook_secret"] else "removed"
    return out


def webhook_test_check(url: str, *, owner: str) -> None:
    """Before a test delivery: the ``owner`` ("budget", "monitor") has a URL that may be sent to
    now (it may have been saved while the local network was allowed, or its DNS changed since)."""
    if not url:
        raise Conflict(f"The {owner} has no webhook URL.")
    if problem := url_problem(url):
        raise Conflict(problem)


def webhook_send(*, url: str, stored_secret: str, payload: dict) -> int:
    """POST ``payload`` signed; the receiver's status code. Raises ``Refused`` when the host is
    (now) on the portal's own network, an ``httpx.HTTPError`` on a network error.

    The host is looked up here and checked again (its DNS may have changed since it was saved),
    and the connection goes to the address checked: the URL carries the address, while the
    ``Host`` header and TLS (SNI, the certificate's name, httpcore's ``sni_hostname``
    extension) keep the name. Each address is tried in turn until one connects."""
    import httpx

    try:
        addresses = addresses_checked(url)
    except Unresolvable as error:
        raise httpx.ConnectError(str(error)) from None  # DNS may be back soon: retried as any network error
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    secret = decrypt_json(stored_secret).get("secret", "")
    named = httpx.URL(url)
    headers = {
        "Host": named.netloc.decode("ascii"),  # the name (and port) the URL gives, not the address
        "Content-Type": "application/json",
        "User-Agent": "Atrium-Webhook/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    extensions = {"sni_hostname": named.raw_host.decode("ascii")} if named.scheme == "https" else {}
    # A transport of its own: no proxy from the environment, which would look the name up again.
    with httpx.Client(transport=httpx.HTTPTransport(), timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:

        def post(address: str) -> int:
            to = named.copy_with(host=address)
            return client.post(to, content=body, headers=headers, extensions=extensions).status_code

        *others, last = addresses
        for address in others:
            try:
                return post(address)
            except httpx.ConnectError:
                continue  # the next one may connect (an IPv6 address with no route from here)
        return post(last)
