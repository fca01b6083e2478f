"""SageMaker deployment guardrails: what they can run, and the DeploymentConfig
of an UpdateEndpoint that has them run a rollout.

A blue/green update provisions the new fleet beside the old one, under the
same variant name, shifts traffic to it all at once, as a canary then the
rest, or in linear steps, bakes ``WaitIntervalInSeconds`` after each shift,
and rolls everything back to the old fleet if one of the
``AutoRollbackConfiguration`` alarms trips meanwhile (``alarms.py`` creates
them). The limits below are the API's (botocore's service model, the API
reference's TrafficRoutingConfig and BlueGreenUpdatePolicy) and the documented
exclusions: no guardrails on Inf1 endpoints, and none for serverless or
multi-variant endpoints (the portal never asks for those: it needs one baseline).
"""

from __future__ import annotations

import math
from typing import Any

from ..base import BackendError, EndpointSpec
from .instances import DEFAULT_INSTANCE_TYPES
from .settings import Settings

LABEL = "SageMaker deployment guardrails"
# The portal's strategies as SageMaker traffic routing; blue_green is all at once with the old fleet kept.
ROUTING = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR", "blue_green": "ALL_AT_ONCE"}
MAX_WAIT_SECONDS = 3600  # WaitIntervalInSeconds and TerminationWaitInSeconds
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 600, 28800  # MaximumExecutionTimeoutInSeconds
MAX_CANARY_PERCENT = 50  # CanarySize: at most 50% of the variant's capacity
LINEAR_STEP_PERCENT = (10, 50)  # LinearStepSize: 10-50% of the variant's capacity
MAX_ALARMS = 10  # AutoRollbackConfiguration.Alarms
# Launching the new fleet comes before any baking: the timeout leaves it this long.
PROVISIONING_SECONDS = 1800


def refusal(
    *,
    hardware: list[str],
    instance_count: int,
    rollout: str,
    canary_percent: int,
    linear_step_percent: int,
    bake_seconds: int,
    termination_wait_seconds: int,
) -> str:
    """Why guardrails cannot run this rollout ("" when they can); the portal runs it then."""
    instance_types = [DEFAULT_INSTANCE_TYPES.get(h, h) for h in hardware]
    if not instance_types or not all(instance_types):
        return "SageMaker guardrails do not support serverless endpoints."
    if inf1 := sorted({t for t in instance_types if t.startswith("ml.inf1.")}):
        return f"SageMaker guardrails do not support Inf1 endpoints ({', '.join(inf1)})."
    if rollout not in ROUTING or rollout == "all_at_once":
        return "An all-at-once deployment has no traffic steps to guard."
    if rollout in ("canary", "linear") and instance_count < 2:
        # A step is whole instances and at most half the new fleet: one instance cannot be split.
        return f"A SageMaker {rollout} rollout needs at least 2 instances to shift part of the fleet (asked 1)."
    if rollout == "canary" and canary_percent > MAX_CANARY_PERCENT:
        return f"A SageMaker canary is at most {MAX_CANARY_PERCENT}% of the capacity (asked {canary_percent}%)."
    low, high = LINEAR_STEP_PERCENT
    if rollout == "linear" and not low <= linear_step_percent <= high:
        return f"A SageMaker linear step is {low}-{high}% of the capacity (asked {linear_step_percent}%)."
    if bake_seconds > MAX_WAIT_SECONDS or termination_wait_seconds > MAX_WAIT_SECONDS:
        return f"SageMaker bakes and keeps the old fleet for at most {MAX_WAIT_SECONDS // 60} minutes a step."
    if _waits(rollout, canary_percent, linear_step_percent, bake_seconds, termination_wait_seconds) > (
        MAX_TIMEOUT_SECONDS - PROVISIONING_SECONDS
    ):
        return f"The rollout would outlast SageMaker's {MAX_TIMEOUT_SECONDS // 3600}-hour limit on a deployment."
    return ""


def _waits(rollout: str, canary: int, step: int, bake: int, termination: int) -> int:
    """Seconds a deployment spends baking and keeping the old fleet."""
    shifts = {"canary": 2, "linear": math.ceil(100 / max(1, step))}.get(rollout, 1)
    return shifts * bake + termination


def deployment_config(settings: Settings, spec: EndpointSpec, alarms: list[str]) -> dict:
    """UpdateEndpoint's DeploymentConfig for ``spec``: its routing, bake and
    termination wait (the connection's defaults where the spec has none), rolled
    back on ``alarms``."""
    bake = spec.bake_seconds if spec.bake_seconds is not None else int(settings.get("bake_seconds", 300))
    termination = (
        spec.termination_wait_seconds
        if spec.termination_wait_seconds is not None
        else int(settings.get("termination_wait_seconds", 0))
    )
    step = spec.linear_step_percent or spec.canary_percent
    routing: dict[str, Any] = {"Type": ROUTING[spec.rollout], "WaitIntervalInSeconds": int(bake)}
    if spec.rollout == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": int(spec.canary_percent)}
    elif spec.rollout == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": int(step)}
    # The API wants the timeout above the total waiting time; a long rollout must not time out halfway.
    needed = _waits(spec.rollout, spec.canary_percent, step, bake, termination) + PROVISIONING_SECONDS
    timeout = max(int(settings.get("max_rollout_seconds", 3600)), needed, MIN_TIMEOUT_SECONDS)
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": int(termination),
            "MaximumExecutionTimeoutInSeconds": min(timeout, MAX_TIMEOUT_SECONDS),
        }
    }
    if len(alarms) > MAX_ALARMS:  # dropping one would deploy unguarded by it
        raise BackendError(
            f"SageMaker rolls back on at most {MAX_ALARMS} alarms; this deployment has {len(alarms)}: "
            "name fewer in the connection's rollback alarms.",
            permanent=True,
        )
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return config
