"""Secrets at rest: Fernet (AES-128-CBC + HMAC) with keys from the environment.

``ATRIUM_ENCRYPTION_KEYS`` holds one or more comma-separated Fernet keys; the
first encrypts, all decrypt, so keys rotate without a migration. With DEBUG on
and no key set, a key is derived from SECRET_KEY (development only)."""

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.ENCRYPTION_KEYS if key.strip()]
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured("Set ATRIUM_ENCRYPTION_KEYS to store cloud credentials.")
        keys = [base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_json(data: dict) -> str:
    return _fernet().encrypt(json.dumps(data).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ImproperlyConfigured("Stored secrets cannot be decrypted with ATRIUM_ENCRYPTION_KEYS.") from None
