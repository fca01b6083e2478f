"""Rollouts the cloud runs itself: SageMaker deployment guardrails, with the
CloudWatch alarms the deployment creates (``apps/backends/sagemaker``).

``rollout_path`` decides, for each deployment, whether the cloud or the
portal runs the rollout. A native rollout is a plan of one deploy step: the
candidate *replaces* the baseline inside the cloud's blue/green update, under
the baseline's variant name, and the cloud shifts capacity, bakes and rolls
back on its alarms; the step polls until the endpoint is in service again,
and fails with the cloud's reason if it was rolled back (``following.py``
records that rollback as automatic).
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.backends import registry as backend_registry
from apps.backends.base import BackendError, GuardedRollouts, Guardrails
from apps.connections.models import Connection
from apps.connections.services import connection_backend
from apps.core.templatetags.atrium import duration
from apps.runs.models import RunKind

from .models import Endpoint, Variant
from .rollouts import DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class RolloutPath:
    native: bool
    why: str  # why the portal runs it ("" when nothing needs saying)
    label: str = ""  # what runs it natively, for people


def rollout_path(*, backend: object, baseline: list[Variant], candidate: dict, settings: dict) -> RolloutPath:
    """Whether the cloud runs this rollout itself (native) or the portal runs it.

    Native wherever the cloud can: the traffic shifts and the rollback happen
    inside the cloud, on its own metrics, with no portal worker or gateway on
    the path, and the candidate's fleet replaces the baseline's without a
    second variant to pay for and drain. That needs all of: a backend whose
    cloud runs guarded rollouts (SageMaker); hardware it guards (not Inf1, not
    serverless) for the baseline and the candidate; an endpoint that exists with
    exactly one baseline variant to replace; and a strategy with traffic steps
    (all at once has nothing to guard). Everywhere else (the local backend,
    Databricks, SageMaker Inf1, a new endpoint) the portal runs the rollout,
    judged on the gateway's own metrics."""
    if not isinstance(backend, GuardedRollouts):
        return RolloutPath(False, "")
    if len(baseline) != 1:
        return RolloutPath(False, "" if not baseline else "the endpoint serves several versions")
    if settings["strategy"] == "all_at_once":
        return RolloutPath(False, "")
    timings = native_timings(settings)
    refusal = backend.guardrails_refusal(
        hardware=[_hardware(_variant_fields(baseline[0])), _hardware(candidate)],
        instance_count=candidate["instance_count"],
        rollout=settings["strategy"],
        canary_percent=settings["percent"],
        linear_step_percent=settings["step_percent"],
        bake_seconds=timings["bake_seconds"],
        termination_wait_seconds=timings.get("termination_wait_seconds") or 0,
    )
    if refusal:
        return RolloutPath(False, refusal)
    return RolloutPath(True, "", backend.guardrails_label)


def guarding_backend(connection: Connection | None):
    """The connection's backend when its cloud can run rollouts itself (made from
    configuration only: no call to the cloud), else None."""
    if connection is None or not backend_registry.guards_rollouts(connection.kind):
        return None
    try:
        return connection_backend(connection)
    except BackendError:  # the portal's plan runs, and its deploy says what is wrong with the connection
        return None


def _variant_fields(variant: Variant) -> dict:
    return {"instance_type": variant.instance_type, "target": variant.target}


def _hardware(variant: dict) -> str:
    """An instance type, or the target the backend maps to one ("" for neither: serverless)."""
    return variant.get("instance_type") or variant.get("target") or ""


def native_timings(settings: dict) -> dict:
    """The portal's rollout settings as the cloud's: the bake after each shift
    (a linear step's interval), and, for blue/green, how long the old fleet is kept."""
    strategy = settings["strategy"]
    timings = {
        "canary_percent": settings["percent"],
        "linear_step_percent": settings["step_percent"],
        "bake_seconds": settings["interval_seconds"] if strategy == "linear" else settings["bake_seconds"],
    }
    if strategy == "blue_green":  # canary and linear keep the old fleet as the connection says
        timings["termination_wait_seconds"] = settings["termination_wait_seconds"]
    return timings


def native_guardrails(settings: dict) -> Guardrails:
    """The rollout's absolute thresholds, which alarms can watch; the relative ones
    (against the baseline) and ``min_requests`` have no alarm to go in."""
    thresholds = {**DEFAULT_THRESHOLDS, **{k: v for k, v in settings["thresholds"].items() if v is not None}}
    return Guardrails(max_error_rate=float(thresholds["max_error_rate"]), max_p95_ms=thresholds["max_p95_ms"])


def native_plan(endpoint: Endpoint, base: Variant, candidate: dict, settings: dict, label: str) -> list[dict]:
    guardrails = native_guardrails(settings)
    return [
        {
            "id": "deploy",
            "name": f"{label}: {candidate['model_name']} v{candidate['model_version']} replaces {base.name}",
            "action": RunKind.DEPLOY,
            "input": {
                "endpoint": endpoint.name,
                # the baseline's variant name: SageMaker's blue/green update replaces a variant under its name
                "variants": [{**candidate, "name": base.name, "weight": 100}],
                "rollout": settings["strategy"],
                **native_timings(settings),
                "guardrails": {"max_error_rate": guardrails.max_error_rate, "max_p95_ms": guardrails.max_p95_ms},
            },
        }
    ]


def native_label(label: str, settings: dict, alarms: list[str]) -> str:
    """What the cloud will do, for the history, the audit trail and the endpoint page."""
    timings = native_timings(settings)
    bake = duration(timings["bake_seconds"])
    steps = {
        "canary": f"canary {settings['percent']}% of the capacity, baking {bake}, then all",
        "linear": f"linear steps of {settings['step_percent']}% of the capacity, baking {bake} each",
        "blue_green": f"blue/green: all at once, baking {bake}, the old fleet kept "
        f"{duration(settings['termination_wait_seconds'])}",
    }[settings["strategy"]]
    return f"{label} (native): {steps}; rolls back on CloudWatch alarms {', '.join(alarms)}"
