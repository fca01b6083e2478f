from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps as django_apps
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse

from apps.core.scoping import team_scoped

from .models import AuditEvent

if TYPE_CHECKING:
    from apps.accounts.models import User

VIEW = "audit.view_auditevent"


def audit_visible(*, user: User) -> QuerySet[AuditEvent]:
    """Admins read the whole trail; managers and approvers their teams' part of it."""
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot read the audit trail.")
    return team_scoped(AuditEvent.objects.select_related("team"), user=user)


def audit_of(*, target, limit: int = 20) -> list[AuditEvent]:
    """The newest decisions on one object, for its own page (whoever may read
    the object may read what was decided about it)."""
    return list(AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))[:limit])


def audit_list(*, user: User, filters: dict) -> QuerySet[AuditEvent]:
    events = audit_visible(user=user)
    if action := filters.get("action"):
        events = events.filter(action__startswith=action)
    if actor := filters.get("actor"):
        events = events.filter(actor_name=actor)
    if target := filters.get("target"):
        events = events.filter(Q(target_id=target) | Q(target_label__icontains=target))
    return events


# --- for people: actions as sentences, objects by kind, with links -----------------------------

ACTION_LABELS = {
    "run.cancel": "Run cancelled",
    "run.step_approved": "Approval step released",
    "run.step_rejected": "Approval step rejected",
    "model.alias_set": "Alias set",
    "model.alias_remove": "Alias removed",
    "model.tag_set": "Tag set",
    "model.tag_delete": "Tag removed",
    "model.archive": "Version archived",
    "model.unarchive": "Version unarchived",
    "template.edit": "Template edited",
    "template.archive": "Template archived",
    "token.create": "API key created",
    "token.revoke": "API key revoked",
    "connection.create": "Connection added",
    "connection.update": "Connection changed",
    "connection.delete": "Connection removed",
    "login.locked_out": "Account locked out after failed logins",
    "model.promoted": "Promotion written to the registry",
    "model.rejected": "Rejection written to the registry",
    "promotion.requested": "Promotion requested",
    "promotion.approved": "Promotion approved",
    "promotion.rejected": "Promotion rejected",
    "promotion.withdrawn": "Promotion request withdrawn",
    "promotion.applied": "Promotion applied: registry written, deployment started",
    "promotion.apply_failed": "Promotion approved but not applied",
    "promotion.retried": "Promotion's write-back retried",
    "environment.created": "Environment created",
    "environment.policy_changed": "Environment policy changed",
    "endpoint.deploy": "Deployment started",
    "endpoint.traffic": "Traffic shifted",
    "endpoint.promote": "Rollout promoted",
    "endpoint.rollback": "Rollout rolled back",
    "endpoint.delete": "Endpoint deleted",
    "costs.scale_down_requested": "Idle endpoint: owners asked to scale down or delete",
}
TARGET_LABELS = {
    "runs.run": "Run",
    "registry.modelversion": "Model version",
    "registry.registeredmodel": "Model",
    "catalog.template": "Template",
    "connections.connection": "Connection",
    "accounts.apitoken": "API key",
    "accounts.user": "User",
    "accounts.team": "Team",
    "approvals.promotionrequest": "Promotion request",
    "approvals.environment": "Environment",
    "deployments.endpoint": "Endpoint",
}


def action_label(action: str) -> str:
    """ "run.cancel" -> "Run cancelled"; an action not listed reads "Area: verb"."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    area, _, verb = action.partition(".")
    words = (verb or area).replace("_", " ")
    return f"{area.capitalize()}: {words}" if verb else words.capitalize()


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def audit_present(events) -> list[AuditEvent]:
    """The events with ``action_label``, ``target_kind`` and ``target_url``
    (the object's page, when it has one): two queries at most, however many events."""
    events = list(events)
    ids = {kind: {e.target_id for e in events if e.target_type == kind} for kind in TARGET_LABELS}
    # Looked up by name: audit sits below the apps whose objects it records.
    pages: dict[tuple[str, str], str] = {}
    if ids["registry.modelversion"]:
        versions = django_apps.get_model("registry", "ModelVersion").objects.filter(pk__in=ids["registry.modelversion"])
        for pk, model_id, version in versions.values_list("pk", "model_id", "version"):
            pages["registry.modelversion", str(pk)] = _url("registry:version", model_id, version)
    if ids["catalog.template"]:
        templates = django_apps.get_model("catalog", "Template").objects.filter(pk__in=ids["catalog.template"])
        for pk, slug in templates.values_list("pk", "slug"):
            pages["catalog.template", str(pk)] = _url("catalog:detail", slug)
    for event in events:
        event.action_label = action_label(event.action)
        event.target_kind = TARGET_LABELS.get(event.target_type, event.target_type.partition(".")[2].capitalize())
        key = (event.target_type, event.target_id)
        if event.target_type == "runs.run":
            pages[key] = _url("runs:detail", event.target_id)
        elif event.target_type == "registry.registeredmodel":
            pages[key] = _url("registry:model", event.target_id)
        elif event.target_type == "connections.connection":
            pages[key] = _url("connections:edit", event.target_id)
        elif event.target_type == "accounts.apitoken":
            pages[key] = _url("accounts:tokens")
        elif event.target_type == "approvals.promotionrequest":
            pages[key] = _url("approvals:request", event.target_id)
        elif event.target_type == "approvals.environment":
            pages[key] = _url("approvals:environments")
        elif event.target_type == "deployments.endpoint":
            pages[key] = _url("deployments:endpoint", event.target_id)
        event.target_url = pages.get(key, "")
    return events
