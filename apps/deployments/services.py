"""Every write to endpoints: deploying with a rollout, shifting traffic,
promoting, rolling back, deleting.

The backend is changed only by runs of the engine (deploy, traffic,
rollback, undeploy, and rollouts of several stages); these services start
them. A rollout is the cloud's own where it can (``guardrails.py``), else the
portal's (``plans.py``, ``rollouts.py``); ``following.py`` keeps the mirror
(``Endpoint``, ``Variant``, ``EndpointEvent``) in step when their steps end."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team, User
from apps.audit.services import audit_record
from apps.backends.base import DEPLOY_TARGETS
from apps.connections.models import Connection
from apps.connections.sources import source_key
from apps.core.errors import Conflict, InvalidInput
from apps.runs.models import TERMINAL, Run, RunKind
from apps.runs.operations import OPERATIONS
from apps.runs.operations.base import NAME
from apps.runs.services import plan_run_create, run_create, run_target_check

from .guardrails import guarding_backend, native_guardrails, native_label, native_plan, rollout_path
from .models import Endpoint, EndpointEvent, EndpointState, Variant
from .plans import portal_plan, rollout_settings, strategy_label, variant_name
from .rollouts import rollout_plan

NAME_TAKEN = "This name is taken by another endpoint: choose another (one address per name at /serve/<name>/)."


VIEW, CHANGE = "deployments.view_endpoint", "deployments.change_endpoint"


def require_view(*, user: User) -> None:
    if not user.has_perm(VIEW):
        raise PermissionDenied("Your role cannot see endpoints.")


def can_change(*, user: User, endpoint: Endpoint) -> bool:
    if not user.has_perm(CHANGE):
        return False
    return user.is_portal_admin or user.teams.filter(pk=endpoint.team_id).exists()


def _require_owner(user: User, endpoint: Endpoint | None = None) -> None:
    """Owners (data scientists of the endpoint's team, admins) change endpoints; the rest read."""
    if not user.has_perm(CHANGE):
        raise PermissionDenied("Your role can read endpoints but not change them.")
    if endpoint is not None and not user.is_portal_admin and not user.teams.filter(pk=endpoint.team_id).exists():
        raise PermissionDenied("Only the endpoint's team can change it.")


def deployment_validate(
    *,
    user: User,
    endpoint: str,
    model_name: str,
    model_version: str,
    backend: str = "local",
    connection: Connection | None = None,
    team: Team | None = None,
    target: str = "cpu",
    instance_type: str = "",
    instance_count: int = 1,
    rollout: dict | None = None,
) -> tuple[Team, str, dict, dict]:
    """Check a deployment before anything is made (400 with errors per field):
    returns the team, the backend kind, the candidate variant and the rollout
    settings with their defaults. Approvals check a requested deployment with
    it when the request is made, long before the deployment starts."""
    _require_owner(user)
    errors: dict = {}
    if not isinstance(endpoint, str) or not NAME.match(endpoint):
        errors["endpoint"] = ["Letters, digits and '-', starting with a letter or digit, at most 63 characters."]
    if not isinstance(model_name, str) or not model_name.strip():
        errors["model_name"] = ["Required."]
    if not isinstance(model_version, str | int) or isinstance(model_version, bool) or not str(model_version).strip():
        errors["model_version"] = ["Required."]
    if not isinstance(instance_type, str):
        errors["instance_type"] = ["An instance type name, or empty."]
        instance_type = ""
    if not instance_type and target not in DEPLOY_TARGETS:
        errors["target"] = [f"One of {', '.join(DEPLOY_TARGETS)}, or give an instance type."]
    if isinstance(instance_count, bool) or not isinstance(instance_count, int) or not 1 <= instance_count <= 100:
        errors["instance_count"] = ["A whole number from 1 to 100."]
    settings, rollout_errors = rollout_settings(rollout or {})
    errors.update(rollout_errors)
    if errors:
        raise InvalidInput(errors)
    team, kind = run_target_check(user=user, team=team, backend=backend, connection=connection)
    candidate = {
        "name": variant_name(model_name, str(model_version)),
        "model_name": model_name.strip(),
        "model_version": str(model_version).strip(),
        **({"instance_type": instance_type} if instance_type else {"target": target}),
        "instance_count": instance_count,
    }
    if problems := OPERATIONS[RunKind.DEPLOY].validate_for({"variants": [candidate]}, backend_kind=kind):
        raise InvalidInput({"target": problems["variants.0"]})
    return team, kind, candidate, settings


def deployment_start(
    *,
    user: User,
    endpoint: str,
    model_name: str,
    model_version: str,
    backend: str = "local",
    connection: Connection | None = None,
    team: Team | None = None,
    target: str = "cpu",
    instance_type: str = "",
    instance_count: int = 1,
    rollout: dict | None = None,
) -> Run:
    """Deploy a model version to an endpoint (made if new) with a rollout: a
    run of kind "rollout", one guarded deploy where the cloud runs the rollout
    itself, else the portal's deploy, stages and promotion. Bad input is a 400
    and makes nothing."""
    team, kind, candidate, settings = deployment_validate(
        user=user,
        endpoint=endpoint,
        model_name=model_name,
        model_version=model_version,
        backend=backend,
        connection=connection,
        team=team,
        target=target,
        instance_type=instance_type,
        instance_count=instance_count,
        rollout=rollout,
    )
    cloud = guarding_backend(connection)

    with transaction.atomic():
        source = source_key(connection.pk if connection else None)
        live = Endpoint.objects.select_for_update().filter(name=endpoint).exclude(state=EndpointState.DELETED)
        existing = next((e for e in live if e.source == source), None)
        if any(e.source != source for e in live) or (existing and existing.team_id != team.pk):
            raise InvalidInput.one("endpoint", NAME_TAKEN)
        if existing and existing.rollout_run_id and existing.rollout_run.status not in TERMINAL:
            raise Conflict("A rollout is in progress on this endpoint: promote it or roll it back first.")
        baseline = list(existing.variants.all()) if existing and existing.state != EndpointState.FAILED else []
        strategy = settings["strategy"]
        if any(
            v.model_name == candidate["model_name"] and v.model_version == candidate["model_version"] for v in baseline
        ):
            raise InvalidInput.one("model_version", "The endpoint already serves this version.")
        if strategy != "all_at_once" and len(baseline) > 1:
            raise InvalidInput.one(
                "rollout.strategy",
                "The endpoint splits traffic between several versions: a rollout needs one "
                "baseline. Deploy all at once, or shift its traffic to one version first.",
            )
        if existing is None:
            existing = _endpoint_new(
                team=team, kind=kind, connection=connection, source=source, name=endpoint, user=user
            )
        steps, how, guarded = _plan(cloud, existing, baseline, candidate, settings)
        run = plan_run_create(
            user=user,
            kind=RunKind.ROLLOUT,
            steps=steps,
            team=team,
            backend=kind,
            connection=connection,
            name=f"Deploy {candidate['model_name']} v{candidate['model_version']} to {endpoint}",
            params={
                "endpoint": endpoint,
                "endpoint_id": str(existing.pk),
                "candidate": candidate,
                "rollout": settings,
                "model_name": candidate["model_name"],
                **({"guardrails": guarded} if guarded else {}),
            },
        )
        Endpoint.objects.filter(pk=existing.pk).update(rollout_run=run, rollout_command="", rollout_command_by=None)
        EndpointEvent.objects.create(
            endpoint=existing,
            kind=EndpointEvent.Kind.DEPLOYED,
            actor=user,
            run=run,
            message=f"Deploying {candidate['model_name']} v{candidate['model_version']}: {how}",
        )
        audit_record(
            actor=user,
            action="endpoint.deploy",
            target=existing,
            team=team,
            data={
                "model": candidate["model_name"],
                "version": candidate["model_version"],
                "rollout": how,
                **({"guardrails": guarded} if guarded else {}),
            },
        )
    return run


def _endpoint_new(*, team: Team, kind: str, connection, source: str, name: str, user: User) -> Endpoint:
    """The row of an endpoint about to be made. Names are unique per source,
    deleted or not (the mirror knows a returning endpoint by its row), so a
    deleted endpoint's row is taken up again by its own team, history and all;
    another team's is renamed out of the way, and its history stays its own."""
    tomb = Endpoint.objects.select_for_update().filter(source=source, name=name, state=EndpointState.DELETED).first()
    if tomb is not None and tomb.team_id == team.pk:
        tomb.variants.all().delete()
        fresh = {"state": EndpointState.CREATING, "message": "", "weights": {}, "discovered": False, "fingerprint": ""}
        Endpoint.objects.filter(pk=tomb.pk).update(
            **fresh, created_by=user, backend=kind, connection=connection, updated_at=timezone.now()
        )
        tomb.refresh_from_db()
        return tomb
    if tomb is not None:
        Endpoint.objects.filter(pk=tomb.pk).update(name=f"{name[:50]}~{tomb.pk.hex[:8]}")
    return Endpoint.objects.create(
        team=team,
        backend=kind,
        connection=connection,
        source=source,
        name=name,
        state=EndpointState.CREATING,
        created_by=user,
    )


def _plan(
    cloud, endpoint: Endpoint, baseline: list[Variant], candidate: dict, settings: dict
) -> tuple[list[dict], str, dict]:
    """The rollout's steps, what it does for people, and, when the cloud runs it,
    what runs it and the alarms it rolls back on (else {})."""
    path = rollout_path(backend=cloud, baseline=baseline, candidate=candidate, settings=settings)
    if path.native:
        alarms = cloud.guardrails_alarms(endpoint.name, native_guardrails(settings))
        steps = native_plan(endpoint, baseline[0], candidate, settings, path.label)
        return steps, native_label(path.label, settings, alarms), {"label": f"{path.label} (native)", "alarms": alarms}
    stages = rollout_plan(**{k: v for k, v in settings.items() if k != "thresholds"}) if baseline else []
    how = strategy_label(settings, stages, has_baseline=bool(baseline))
    if stages and path.why:  # the cloud could have run it but for this
        how += f" (run by the portal: {path.why.rstrip('.')})"
    return portal_plan(endpoint, baseline, candidate, stages, settings), how, {}


# --- people acting on an endpoint ----------------------------------------------------------


def endpoint_command(*, user: User, endpoint: Endpoint, command: str) -> Endpoint | Run:
    """ "promote" or "rollback" the rollout in progress (its current stage acts
    on it at its next poll); a rollback with no rollout restores the
    endpoint's previous configuration (a rollback run)."""
    _require_owner(user, endpoint)
    rolling = endpoint.rollout_run_id and endpoint.rollout_run.status not in TERMINAL
    if not rolling:
        if command == "promote":
            raise Conflict("No rollout is in progress: there is nothing to promote.")
        return _endpoint_run(
            user=user,
            endpoint=endpoint,
            kind=RunKind.ROLLBACK,
            params={"endpoint": endpoint.name},
            action="endpoint.rollback",
        )
    if endpoint.rollout_run.params.get("guardrails"):  # no API cuts a SageMaker blue/green update short
        raise Conflict(
            f"{endpoint.rollout_run.params['guardrails']['label']} run this rollout: it promotes the new version, "
            "or rolls it back when one of its alarms trips, on its own."
        )
    with transaction.atomic():
        updated = Endpoint.objects.filter(pk=endpoint.pk, rollout_command="").update(
            rollout_command=command, rollout_command_by=user
        )
        if not updated:
            raise Conflict("Someone already decided this rollout's next move.")
        audit_record(
            actor=user,
            action=f"endpoint.{command}",
            target=endpoint,
            team=endpoint.team,
            data={"run": str(endpoint.rollout_run_id)},
        )
    _nudge(endpoint.rollout_run_id)
    endpoint.refresh_from_db()
    return endpoint


def _nudge(run_id) -> None:
    """The rollout's stage acts at the beat's next tick rather than at its next poll
    (the beat leases the run, so no two workers poll the stage at once)."""
    Run.objects.filter(pk=run_id).update(next_poll_at=timezone.now())


def endpoint_traffic(*, user: User, endpoint: Endpoint, weights: dict) -> Run:
    _require_owner(user, endpoint)
    if endpoint.rollout_run_id and endpoint.rollout_run.status not in TERMINAL:
        raise Conflict("A rollout is moving this endpoint's traffic: promote it or roll it back first.")
    return _endpoint_run(
        user=user,
        endpoint=endpoint,
        kind=RunKind.TRAFFIC,
        params={"endpoint": endpoint.name, "weights": weights},
        action="endpoint.traffic",
    )


def endpoint_delete(*, user: User, endpoint: Endpoint) -> Run:
    _require_owner(user, endpoint)
    if endpoint.rollout_run_id and endpoint.rollout_run.status not in TERMINAL:
        raise Conflict("A rollout is in progress on this endpoint: roll it back first.")
    run = _endpoint_run(
        user=user,
        endpoint=endpoint,
        kind=RunKind.UNDEPLOY,
        params={"endpoint": endpoint.name},
        action="endpoint.delete",
    )
    Endpoint.objects.filter(pk=endpoint.pk).update(state=EndpointState.DELETING)
    return run


def _endpoint_run(*, user: User, endpoint: Endpoint, kind: str, params: dict, action: str) -> Run:
    with transaction.atomic():
        run = run_create(
            user=user,
            kind=kind,
            params=params,
            backend=endpoint.backend,
            connection=endpoint.connection,
            team=endpoint.team,
        )
        audit_record(
            actor=user,
            action=action,
            target=endpoint,
            team=endpoint.team,
            data={k: v for k, v in params.items() if k != "endpoint"} | {"run": str(run.pk)},
        )
    return run
