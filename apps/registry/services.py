"""Every write to the model mirror. The backend is the record: a write goes to
the backend first and, only when it succeeded, to the mirror; a failed write
changes nothing and raises ``WriteFailed`` with the backend's reason."""

from __future__ import annotations

import logging
import re

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.backends.base import BackendError
from apps.core.errors import InvalidInput

from . import sync
from .models import ModelAlias, ModelVersion, RegisteredModel
from .sync import ARCHIVED_TAG, source_of

logger = logging.getLogger(__name__)

VIEW = "registry.view_registeredmodel"
CHANGE = "registry.change_registeredmodel"
# Valid in MLflow, SageMaker tags and Unity Catalog alike; "latest" and v<N> are MLflow's own.
ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
TAG_KEY = re.compile(r"^[A-Za-z0-9_.:/=+@-]{1,128}$")
TAG_VALUE = re.compile(r"^[\w .:/=+@-]{0,256}$")
RESERVED_TAG_PREFIXES = ("atrium.", "atrium:", "aws:", "mlflow.")


class WriteFailed(InvalidInput):
    """The backend refused or could not be reached; nothing was changed."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__({"backend": [message]})
        self.message = message
        self.permanent = permanent


# --- permissions --------------------------------------------------------------------


def require_view(*, user: User) -> None:
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot see models.")


def can_change(*, user: User, model: RegisteredModel) -> bool:
    if not user.has_perm(CHANGE):
        return False
    return user.is_portal_admin or user.teams.filter(pk=model.team_id).exists()


def require_change(*, user: User, model: RegisteredModel) -> None:
    if not user.has_perm(CHANGE):
        raise PermissionDenied("Your role cannot change models.")
    if not can_change(user=user, model=model):
        raise PermissionDenied("Only data scientists of the team that owns this model can change it.")
    if model.deleted_upstream:
        raise InvalidInput.one("model", "This model was deleted in its registry; it can no longer be changed.")


# --- write-through ------------------------------------------------------------------


def _write(model: RegisteredModel, what: str, call) -> None:
    """Call the backend; a failure becomes WriteFailed and nothing else happens."""
    try:
        call(source_of(model).backend())
    except BackendError as exc:
        logger.info("registry write refused (%s on %s): %s", what, model.name, exc.message)
        where = "the local MLflow" if model.connection_id is None else model.connection.name
        raise WriteFailed(f"Could not {what} in {where}: {exc.message}", permanent=exc.permanent) from None


def _changed(user: User, action: str, version: ModelVersion, **data) -> None:
    """After a write that went through: a new revision of the model (its cached
    pages go stale) and the audit record. Inside the write's transaction."""
    RegisteredModel.objects.filter(pk=version.model_id).update(updated_at=timezone.now())
    data = {"version": version.version, **data}
    audit_record(actor=user, action=f"model.{action}", target=version, team=version.model.team, data=data)


def _check_version(version: ModelVersion) -> None:
    if version.deleted_upstream:
        raise InvalidInput.one("version", "This version was deleted in its registry.")


def version_set_alias(*, user: User, version: ModelVersion, alias: str) -> ModelVersion:
    """Set ``alias`` on ``version``, moving it off whichever version had it."""
    model = version.model
    require_change(user=user, model=model)
    _check_version(version)
    alias = (alias or "").strip()
    if not ALIAS.match(alias) or RESERVED_ALIAS.match(alias):
        raise InvalidInput.one(
            "alias", "Letters, digits and '_', starting with a letter, at most 63; not 'latest' nor v<number>."
        )
    if version.archived:
        raise InvalidInput.one("alias", "This version is archived; unarchive it before giving it an alias.")
    _write(model, f"set the alias {alias!r}", lambda backend: backend.set_alias(version.ref, alias))
    with transaction.atomic():
        held = ModelAlias.objects.filter(model=model, alias=alias)
        previous = held.values_list("version__version", flat=True).first()
        ModelAlias.objects.update_or_create(model=model, alias=alias, defaults={"version": version})
        _changed(user, "alias_set", version, alias=alias, moved_from=previous)
    logger.info("%s set alias %s on %s", user.username, alias, version)
    return version


def version_remove_alias(*, user: User, version: ModelVersion, alias: str) -> ModelVersion:
    model = version.model
    require_change(user=user, model=model)
    if not ModelAlias.objects.filter(model=model, version=version, alias=alias).exists():
        raise InvalidInput.one("alias", f"Version {version.version} has no alias {alias!r}.")
    _write(model, f"remove the alias {alias!r}", lambda backend: backend.delete_alias(model.name, alias))
    with transaction.atomic():
        ModelAlias.objects.filter(model=model, version=version, alias=alias).delete()
        _changed(user, "alias_removed", version, alias=alias)
    return version


def _check_tag(key: str, value: str | None = None) -> None:
    errors = {}
    if not TAG_KEY.match(key or ""):
        errors["key"] = ["1 to 128 letters, digits or _ . : / = + @ -."]
    elif key.lower().startswith(RESERVED_TAG_PREFIXES):
        errors["key"] = ["Tags starting with atrium., aws: or mlflow. are the portal's or the registry's own."]
    if value is not None and not TAG_VALUE.match(value):
        errors["value"] = ["At most 256 letters, digits, spaces or _ . : / = + @ -."]
    if errors:
        raise InvalidInput(errors)


def version_set_tag(*, user: User, version: ModelVersion, key: str, value: str) -> ModelVersion:
    require_change(user=user, model=version.model)
    _check_version(version)
    key, value = (key or "").strip(), (value or "").strip()
    _check_tag(key, value)
    _write(version.model, f"set the tag {key!r}", lambda backend: backend.set_version_tag(version.ref, key, value))
    version.tags = {**version.tags, key: value}
    with transaction.atomic():
        version.save(update_fields=["tags", "updated_at"])
        _changed(user, "tag_set", version, key=key, value=value)
    return version


def version_delete_tag(*, user: User, version: ModelVersion, key: str) -> ModelVersion:
    require_change(user=user, model=version.model)
    _check_version(version)
    if key not in version.tags:
        raise InvalidInput.one("key", f"Version {version.version} has no tag {key!r}.")
    _check_tag(key)
    _write(version.model, f"remove the tag {key!r}", lambda backend: backend.delete_version_tag(version.ref, key))
    version.tags = {k: v for k, v in version.tags.items() if k != key}
    with transaction.atomic():
        version.save(update_fields=["tags", "updated_at"])
        _changed(user, "tag_removed", version, key=key)
    return version


def version_archive(*, user: User, version: ModelVersion) -> ModelVersion:
    """Archive = the tag ``atrium.archived=true`` in the registry (the same in
    all three; MLflow 3 has no stages to use). An aliased version stays live."""
    require_change(user=user, model=version.model)
    _check_version(version)
    aliases = list(version.aliases.values_list("alias", flat=True))
    if aliases:
        raise InvalidInput.one("version", f"Move the alias {', '.join(aliases)} to another version first.")
    _write(
        version.model, "archive the version", lambda backend: backend.set_version_tag(version.ref, ARCHIVED_TAG, "true")
    )
    version.tags = {**version.tags, ARCHIVED_TAG: "true"}
    version.archived = True
    with transaction.atomic():
        version.save(update_fields=["tags", "archived", "updated_at"])
        _changed(user, "archived", version)
    return version


def version_unarchive(*, user: User, version: ModelVersion) -> ModelVersion:
    require_change(user=user, model=version.model)
    _check_version(version)
    if not version.archived:
        raise InvalidInput.one("version", "This version is not archived.")
    _write(
        version.model, "unarchive the version", lambda backend: backend.delete_version_tag(version.ref, ARCHIVED_TAG)
    )
    version.tags = {k: v for k, v in version.tags.items() if k != ARCHIVED_TAG}
    version.archived = False
    with transaction.atomic():
        version.save(update_fields=["tags", "archived", "updated_at"])
        _changed(user, "unarchived", version)
    return version


# --- promotions (apps/approvals decides; this writes the decision to the registry) -----------

PROMOTION_TAG = "atrium.promotion_request"


def version_record_promotion(*, actor: User, version: ModelVersion, alias: str, request_id: str) -> ModelVersion:
    """An approved promotion, in the model's own registry: the environment's
    alias moves to ``version``, a tag names the request, and registries that
    keep an approval status (SageMaker; MLflow through the portal's tag) say
    Approved. The approvals service has already checked who decided; this
    writes on the portal's behalf. Idempotent: a retry writes the same."""
    model = version.model
    _check_version(version)

    keeps_status = []

    def write(backend):
        backend.set_alias(version.ref, alias)
        backend.set_version_tag(version.ref, PROMOTION_TAG, request_id)
        if getattr(backend, "has_approval_status", True):
            backend.set_approval_status(version.ref, "Approved")
            keeps_status.append(True)

    _write(model, f"record the promotion to {alias!r}", write)
    with transaction.atomic():
        previous = (
            ModelAlias.objects.filter(model=model, alias=alias).values_list("version__version", flat=True).first()
        )
        ModelAlias.objects.update_or_create(model=model, alias=alias, defaults={"version": version})
        version.tags = {**version.tags, PROMOTION_TAG: request_id}
        if keeps_status:
            version.approval_status = "Approved"
        version.save(update_fields=["tags", "approval_status", "updated_at"])
        _changed(actor, "promoted", version, alias=alias, moved_from=previous, request=request_id)
    return version


def version_record_rejection(*, actor: User, version: ModelVersion, request_id: str) -> ModelVersion:
    """A rejected promotion, where the registry keeps an approval status (SageMaker: Rejected)."""
    model = version.model

    keeps_status = []

    def write(backend):
        if getattr(backend, "has_approval_status", True):
            backend.set_approval_status(version.ref, "Rejected")
            keeps_status.append(True)

    _write(model, "record the rejection", write)
    with transaction.atomic():
        if keeps_status:
            version.approval_status = "Rejected"
            version.save(update_fields=["approval_status", "updated_at"])
        _changed(actor, "rejected", version, request=request_id)
    return version


# --- sync requests ------------------------------------------------------------------


def model_request_sync(*, user: User, model: RegisteredModel) -> None:
    require_view(user=user)
    transaction.on_commit(lambda: _tasks().sync_model.delay(str(model.pk)))


def registry_request_sync(*, user: User) -> None:
    if not user.has_perm(CHANGE):
        raise PermissionDenied("Your role cannot start a sync.")
    transaction.on_commit(lambda: _tasks().sync_registries.delay(full=True))


def local_model_request_sync(*, name: str) -> None:
    """MLflow said (by webhook) that this model changed: read it again, on commit."""
    transaction.on_commit(lambda: _tasks().sync_local_model.delay(name))


def version_link_step(step) -> None:
    """A portal run's step registered a model version: it is in Models at once,
    linked to the run (an effect of the run engine, applied once when the step
    succeeds). The registry's details follow with a sync on commit."""
    if not step.model_name or not step.model_version:
        return
    run = step.run
    source = sync.Source(kind=run.backend, connection=run.connection)
    row = sync.version_link(
        source=source,
        name=step.model_name,
        version=step.model_version,
        run_id=run.pk,
        team_id=run.team_id,
        metrics=dict(step.metrics),
        dataset=str(step.params.get("dataset") or ""),
    )
    transaction.on_commit(lambda: _tasks().sync_model.delay(str(row.model_id)))


def _tasks():
    from . import tasks

    return tasks
