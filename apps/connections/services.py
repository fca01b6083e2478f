"""Every write to a connection, and the one place its secrets are opened."""

from __future__ import annotations

import logging
import re

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.audit.services import audit_record
from apps.backends import registry
from apps.backends.base import Backend, BackendError
from apps.core.crypto import decrypt_json, encrypt_json
from apps.core.errors import InvalidInput

from .models import Connection

logger = logging.getLogger(__name__)
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


def _require_admin(user: User) -> None:
    if not user.is_portal_admin:
        raise PermissionDenied("Only admins manage connections.")


def _clean(kind: str, config: dict, secrets: dict, *, keep: dict) -> tuple[dict, dict]:
    """Settings as the backend declares them: unknown ones refused, required ones
    present, URLs that are URLs, then the backend's own checks."""
    if kind not in Connection.Kind.values:
        raise InvalidInput.one("kind", f"Unknown kind {kind!r}. Choose one of {', '.join(Connection.Kind.values)}.")
    declared = {setting.name: setting for setting in registry.connection_settings(kind)}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(config) | set(secrets)):
        setting = declared.get(key)
        if setting is None or setting.secret != (key in secrets):
            errors[key] = ["Unknown secret." if key in secrets else "Unknown setting."]
    config = {key: str(value).strip() for key, value in config.items() if _is(declared, key, secret=False) and value}
    # A blank secret keeps the stored one: secrets are never sent back to be re-entered.
    secrets = {
        **keep,
        **{key: str(value) for key, value in secrets.items() if _is(declared, key, secret=True) and value},
    }
    for setting in declared.values():
        if setting.required and not (config.get(setting.name) or secrets.get(setting.name)):
            errors.setdefault(setting.name, []).append("Required.")
        value = config.get(setting.name)
        if (setting.name == "host" or setting.name.endswith("_url")) and value and not URL.match(value):
            errors.setdefault(setting.name, []).append("Must be an http(s) URL.")
    for key, messages in registry.connection_problems(kind, config, secrets).items():
        errors.setdefault(key, []).extend(messages)
    if errors:
        raise InvalidInput(errors)
    return config, secrets


def _is(declared: dict, key: str, *, secret: bool) -> bool:
    return key in declared and declared[key].secret == secret


@transaction.atomic
def connection_create(
    *, user: User, name: str, kind: str, config: dict, secrets: dict, teams: list[Team], is_sandbox: bool = False
) -> Connection:
    _require_admin(user)
    if not name or Connection.objects.filter(name=name).exists():
        raise InvalidInput.one("name", "Required, and unique." if name else "Required.")
    config, secrets = _clean(kind, config, secrets, keep={})
    connection = Connection.objects.create(
        name=name,
        kind=kind,
        config=config,
        is_sandbox=is_sandbox,
        secrets_ciphertext=encrypt_json(secrets),
        created_by=user,
    )
    connection.teams.set(teams)
    _audit(user, "connection.create", connection, config=config, secrets=secrets, teams=teams)
    logger.info("connection %s (%s) created by %s", connection.name, kind, user.username)
    return connection


@transaction.atomic
def connection_update(
    *, user: User, connection: Connection, config: dict, secrets: dict, teams: list[Team]
) -> Connection:
    _require_admin(user)
    stored = connection_secrets(connection)
    config, secrets = _clean(connection.kind, config, secrets, keep=stored)
    changed_secrets = sorted(key for key in secrets.keys() | stored.keys() if secrets.get(key) != stored.get(key))
    connection.config = config
    connection.secrets_ciphertext = encrypt_json(secrets)
    connection.save(update_fields=["config", "secrets_ciphertext", "updated_at"])
    connection.teams.set(teams)
    _audit(user, "connection.update", connection, config=config, secrets=changed_secrets, teams=teams)
    logger.info("connection %s updated by %s", connection.name, user.username)
    return connection


def _audit(user: User, action: str, connection: Connection, *, config: dict, secrets, teams: list[Team]) -> None:
    """Settings and team grants as they now are; of the secrets, only which were set -- never a value."""
    audit_record(
        actor=user,
        action=action,
        target=connection,
        data={
            "kind": connection.kind,
            "config": config,
            "secrets_set": sorted(secrets),
            "teams": sorted(team.slug for team in teams),
        },
    )


def connection_secrets(connection: Connection) -> dict:
    return decrypt_json(connection.secrets_ciphertext)


def connection_backend(connection: Connection) -> Backend:
    return registry.get_backend(connection.kind, config=connection.config, secrets=connection_secrets(connection))


def connection_test(*, user: User, connection: Connection) -> list[dict]:
    """Run the backend's read-only checks; report what works and what the
    credentials lack. Messages are scrubbed of every stored secret."""
    _require_admin(user)
    secrets = connection_secrets(connection)
    try:
        report = connection_backend(connection).check()
    except BackendError as exc:
        report = [{"check": "connect", "ok": False, "message": exc.message}]
    report = [{**item, "message": scrub(item.get("message", ""), secrets)} for item in report]
    Connection.objects.filter(pk=connection.pk).update(last_test_at=timezone.now(), last_test_report=report)
    connection.last_test_report = report
    return report


def scrub(text: str, secrets: dict) -> str:
    for value in secrets.values():
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text
