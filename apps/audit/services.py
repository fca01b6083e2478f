"""The one way to write the audit trail. Call it inside the transaction that
makes the change, so a change without its record (or the reverse) cannot land."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from .models import AuditEvent

if TYPE_CHECKING:  # audit sits below accounts: it records who, without importing them
    from apps.accounts.models import Team, User


def audit_record(
    *, actor: User, action: str, target: models.Model, team: Team | None = None, data: dict | None = None
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username(),
        team=team,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:300],
        data=data or {},
    )
