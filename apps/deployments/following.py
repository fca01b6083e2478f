"""Following the engine: the endpoint mirror (``Endpoint``, ``Variant``,
``EndpointEvent``) says what an endpoint run's step did, the moment it ends,
and a finished rollout frees its endpoint."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.connections.sources import source_key
from apps.runs.models import Run, RunKind, RunStep
from apps.runs.services import run_create

from .models import Endpoint, EndpointEvent, EndpointState, Variant
from .plans import variant_params
from .rollouts import STAGE_ACTION

ENDPOINT_ACTIONS = {RunKind.DEPLOY, RunKind.TRAFFIC, RunKind.ROLLBACK, RunKind.UNDEPLOY}


def endpoint_follow_step(step: RunStep) -> None:
    """An endpoint step ended (deploy, traffic, rollback, delete, a rollout's
    deploy or promotion): the mirror says what the endpoint now is."""
    if step.action not in ENDPOINT_ACTIONS:
        return
    run = step.run
    name = step.params.get("endpoint") or step.inputs.get("endpoint")
    if not name:
        return
    source = source_key(run.connection_id)
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().filter(source=source, name=name).first()
        if endpoint is None:
            if step.action != RunKind.DEPLOY or step.status != "succeeded":
                return
            endpoint = Endpoint.objects.create(
                team=run.team,
                backend=run.backend,
                connection=run.connection,
                source=source,
                name=name,
                created_by=run.created_by,
            )
        _follow(endpoint, run, step)


def _follow(endpoint: Endpoint, run: Run, step: RunStep) -> None:
    event = {"endpoint": endpoint, "run": run, "actor": run.created_by}
    weights = step.outputs.get("weights") if isinstance(step.outputs.get("weights"), dict) else None
    guarded = run.params.get("guardrails") if run.kind == RunKind.ROLLOUT else None
    if step.status != "succeeded" and step.outputs.get("rolled_back") and step.action == RunKind.DEPLOY:
        _rolled_back_by_cloud(endpoint, run, step, weights, guarded)
        return
    if step.status != "succeeded":
        state = EndpointState.FAILED if step.action == RunKind.DEPLOY else endpoint.state
        Endpoint.objects.filter(pk=endpoint.pk).update(state=state, message=step.status_message[:2000])
        EndpointEvent.objects.create(
            kind=EndpointEvent.Kind.FAILED, message=f"{step.name} failed: {step.status_message}", **event
        )
        return
    if step.action == RunKind.UNDEPLOY:
        Endpoint.objects.filter(pk=endpoint.pk).update(state=EndpointState.DELETED, weights={})
        EndpointEvent.objects.create(kind=EndpointEvent.Kind.DELETED, message="Deleted", **event)
        return
    if step.action == RunKind.DEPLOY:
        variants = step.params["variants"]
        endpoint.variants.all().delete()
        Variant.objects.bulk_create(
            [
                Variant(
                    endpoint=endpoint,
                    name=v["name"],
                    model_name=v["model_name"],
                    model_version=str(v["model_version"]),
                    target=v.get("target", ""),
                    instance_type=v.get("instance_type", ""),
                    instance_count=v.get("instance_count", 1),
                )
                for v in variants
            ]
        )
        weights = weights or {v["name"]: v.get("weight", 100 // len(variants)) for v in variants}
        promoted = run.kind == RunKind.ROLLOUT and (step.key == "promote" or bool(guarded))
        kind = EndpointEvent.Kind.PROMOTED if promoted else EndpointEvent.Kind.DEPLOYED
        names = ", ".join(
            f"{v['name']} ({v['model_name']} v{v['model_version']}) at {weights.get(v['name'], 0)}%" for v in variants
        )
        message = f"{'Promoted' if promoted else 'Serving'}: {names}"
        if guarded:
            message += f", by {guarded['label']}: no alarm of {', '.join(guarded['alarms'])} tripped"
    elif step.action == RunKind.TRAFFIC:
        kind, message = EndpointEvent.Kind.TRAFFIC, "Traffic shifted"
    else:
        kind, message = EndpointEvent.Kind.ROLLED_BACK, "Rolled back to the previous configuration"
    Endpoint.objects.filter(pk=endpoint.pk).update(
        state=EndpointState.IN_SERVICE, message="", weights=weights or endpoint.weights, synced_at=timezone.now()
    )
    EndpointEvent.objects.create(kind=kind, message=message, weights=weights or {}, **event)


def _rolled_back_by_cloud(endpoint: Endpoint, run: Run, step: RunStep, weights, guarded: dict | None) -> None:
    """The cloud undid the deployment on its own: the endpoint serves its
    previous version again (its mirror stays), and the history says why."""
    reason = step.status_message
    by = guarded["label"] if guarded else "The cloud"
    watched = f", watching CloudWatch alarms {', '.join(guarded['alarms'])}" if guarded else ""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        state=EndpointState.IN_SERVICE, message="", weights=weights or endpoint.weights, synced_at=timezone.now()
    )
    EndpointEvent.objects.create(
        endpoint=endpoint,
        run=run,
        kind=EndpointEvent.Kind.ROLLED_BACK,
        automatic=True,
        message=f"Rolled back automatically by {by}{watched}: {reason}",
        weights=weights or {},
    )


def rollout_finished(run: Run) -> None:
    """A rollout ended: the endpoint is free for the next one. A rolled-back
    candidate's fleet is released by deploying the baseline alone."""
    if run.kind != RunKind.ROLLOUT:
        return
    endpoint = Endpoint.objects.filter(pk=run.params.get("endpoint_id")).first()
    if endpoint is None:
        return
    Endpoint.objects.filter(pk=endpoint.pk, rollout_run=run).update(
        rollout_run=None, rollout_command="", rollout_command_by=None
    )
    rolled_back = run.steps.filter(action=STAGE_ACTION, status="failed", outputs__rolled_back=True).first()
    if rolled_back is None:
        return
    baseline = endpoint.variants.filter(name=rolled_back.params["baseline"]).first()
    if baseline is None:
        return
    run_create(
        user=run.created_by,
        kind=RunKind.DEPLOY,
        team=run.team,
        backend=run.backend,
        connection=run.connection,
        name=f"Release {rolled_back.params['candidate']} from {endpoint.name}",
        params={"endpoint": endpoint.name, "variants": [variant_params(baseline, 100)]},
    )
