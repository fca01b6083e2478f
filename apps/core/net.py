"""The client's address, the one way: X-Forwarded-For counts only when the
portal is told how many proxies of its own stand in front (NUM_PROXIES), and
then only the entry the outermost of them added; anything further left is
what the client claimed. DRF's throttles use the same rule (its NUM_PROXIES)."""

from django.conf import settings


def client_ip(request) -> str:
    meta = request.META
    remote = meta.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "NUM_PROXIES", 0) or 0
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",")]
    return addresses[-min(proxies, len(addresses))] or remote
