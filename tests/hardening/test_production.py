"""Production-safe by default (issue 15): secrets made once into var/ (0600),
`check --deploy` clean behind TLS, plain http on 127.0.0.1 still logs in,
a favicon, password validators, no debug page."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What tests/environment.py sets for the test session; a fresh machine has none of it.
SESSION_ONLY = {
    "DEBUG",
    "SECRET_KEY",
    "ATRIUM_ENCRYPTION_KEYS",
    "ATRIUM_VAR_DIR",
    "PORTAL_URL",
    "DJANGO_SETTINGS_MODULE",
}

SHOW = """
import django, json
django.setup()
from django.conf import settings as s
print(json.dumps({"secret": s.SECRET_KEY, "keys": s.ENCRYPTION_KEYS, "debug": s.DEBUG,
  "cookies": s.SESSION_COOKIE_SECURE, "redirect": s.SECURE_SSL_REDIRECT, "hsts": s.SECURE_HSTS_SECONDS,
  "static": s.STORAGES["staticfiles"]["BACKEND"]}))
"""


def fresh_env(var: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SESSION_ONLY}
    return {**env, "ATRIUM_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "portal.settings", **extra}


def settings_in(var: Path, **extra) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=fresh_env(var, **extra), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_secrets_are_made_once_into_var_with_owner_only_access(tmp_path):
    first = settings_in(tmp_path)
    assert first["debug"] is False  # production mode unless asked
    assert len(first["secret"]) >= 50 and len(first["keys"]) == 1
    for name in ("secret_key", "encryption_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    again = settings_in(tmp_path)
    assert (again["secret"], again["keys"]) == (first["secret"], first["keys"])
    assert settings_in(tmp_path, SECRET_KEY="given-" + "x" * 50)["secret"] == "given-" + "x" * 50
    assert "CompressedManifest" in first["static"]
    assert "CompressedManifest" not in settings_in(tmp_path, DEBUG="1")["static"]


def test_plain_http_keeps_cookies_usable_and_https_turns_everything_on(tmp_path):
    plain = settings_in(tmp_path, PORTAL_URL="http://127.0.0.1:8000")
    assert (plain["cookies"], plain["redirect"], plain["hsts"]) == (False, False, 0)
    tls = settings_in(tmp_path, PORTAL_URL="https://atrium.example.com")
    assert tls["cookies"] and tls["redirect"] and tls["hsts"] >= 31_536_000
    assert settings_in(tmp_path, PORTAL_URL="https://atrium.example.com", SECURE_SSL_REDIRECT="0")["redirect"] is False


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=fresh_env(tmp_path, PORTAL_URL="https://atrium.example.com", ALLOWED_HOSTS="atrium.example.com"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_the_favicon(client, ds_client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in ds_client.get("/runs/").content.decode()


def test_password_validators_refuse_weak_passwords(db):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("password123", "12345678901", "short"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("correct-horse-battery-staple")
