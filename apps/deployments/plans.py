"""A deployment's rollout settings, and the plan the portal runs for it: the
run-engine steps of ``rollouts.py`` (deploy beside the baseline, stages,
promote), or one deploy when there is nothing to roll out against."""

from __future__ import annotations

import re

from apps.core.templatetags.atrium import duration
from apps.runs.models import RunKind

from .models import Endpoint, Variant
from .rollouts import DEFAULT_THRESHOLDS, STAGE_ACTION, STRATEGIES


def variant_name(model_name: str, version: str) -> str:
    """A variant name valid on every backend: the model's last name part and its version."""
    base = re.sub(r"[^A-Za-z0-9-]+", "-", model_name.rsplit(".", 1)[-1]).strip("-")[:40] or "model"
    return f"{base}-v{version}"


def _positive(errors: dict, params: dict, key: str, low: int, high: int) -> int:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[key] = [f"A whole number from {low} to {high}."]
        return low
    return value


def rollout_settings(rollout: dict) -> tuple[dict, dict]:
    """The rollout's settings with defaults, and errors per field."""
    if not isinstance(rollout, dict):
        return {}, {"rollout": ["Must be an object."]}
    settings = {
        "strategy": "all_at_once",
        "percent": 10,
        "bake_seconds": 300,
        "step_percent": 25,
        "interval_seconds": 300,
        "termination_wait_seconds": 300,
        **rollout,
    }
    errors: dict = {}
    unknown = sorted(
        set(settings)
        - {
            "strategy",
            "percent",
            "bake_seconds",
            "step_percent",
            "interval_seconds",
            "termination_wait_seconds",
            "thresholds",
        }
    )
    if unknown:
        errors["rollout"] = [f"Unknown setting {', '.join(unknown)}."]
    if settings["strategy"] not in STRATEGIES:
        errors["rollout.strategy"] = [f"One of {', '.join(STRATEGIES)}."]
    _positive(errors, settings, "percent", 1, 99)
    _positive(errors, settings, "step_percent", 1, 50)
    for key in ("bake_seconds", "interval_seconds", "termination_wait_seconds"):
        _positive(errors, settings, key, 0, 7 * 24 * 3600)
    thresholds = settings.get("thresholds") or {}
    if not isinstance(thresholds, dict) or set(thresholds) - set(DEFAULT_THRESHOLDS):
        errors["rollout.thresholds"] = [f"An object with any of {', '.join(DEFAULT_THRESHOLDS)}."]
    elif any(
        v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0) for v in thresholds.values()
    ):
        errors["rollout.thresholds"] = ["Thresholds are numbers, 0 or more."]
    settings["thresholds"] = thresholds if isinstance(thresholds, dict) else {}
    return settings, {k if k.startswith("rollout") else f"rollout.{k}": v for k, v in errors.items()}


def strategy_label(settings: dict, stages: list, *, has_baseline: bool) -> str:
    if not stages:
        return "all at once" + (
            ""
            if has_baseline or settings["strategy"] == "all_at_once"
            else " (a new endpoint has no baseline to compare a canary with)"
        )
    parts = ", ".join(f"{share}% for {duration(bake)}" for share, bake in stages)
    return f"{settings['strategy'].replace('_', '-')}: {parts}, then all"


def variant_params(variant: Variant, weight: int) -> dict:
    """A served variant as a deploy step's input, on the hardware it has."""
    hardware = (
        {"instance_type": variant.instance_type} if variant.instance_type else {"target": variant.target or "cpu"}
    )
    return {
        "name": variant.name,
        "model_name": variant.model_name,
        "model_version": variant.model_version,
        **hardware,
        "instance_count": variant.instance_count,
        "weight": weight,
    }


def portal_plan(
    endpoint: Endpoint, baseline: list[Variant], candidate: dict, stages: list, settings: dict
) -> list[dict]:
    final = {"endpoint": endpoint.name, "variants": [{**candidate, "weight": 100}]}
    if not stages:
        return [{"id": "deploy", "name": f"Deploy {candidate['name']}", "action": RunKind.DEPLOY, "input": final}]
    base = baseline[0]
    steps = [
        {
            "id": "deploy",
            "name": f"Add {candidate['name']} beside {base.name} at 0%",
            "action": RunKind.DEPLOY,
            "input": {"endpoint": endpoint.name, "variants": [variant_params(base, 100), {**candidate, "weight": 0}]},
        }
    ]
    for index, (share, bake) in enumerate(stages, start=1):
        label = f"Stage {index} of {len(stages)}"
        steps.append(
            {
                "id": f"stage-{index}",
                "name": f"{label}: {share}% to {candidate['name']}",
                "action": STAGE_ACTION,
                "input": {
                    "endpoint": endpoint.name,
                    "endpoint_id": str(endpoint.pk),
                    "stage_label": label,
                    "weights": {base.name: 100 - share, candidate["name"]: share},
                    "bake_seconds": bake,
                    "candidate": candidate["name"],
                    "baseline": base.name,
                    "thresholds": settings["thresholds"],
                    "last": index == len(stages),  # it drains the baseline before the promotion releases it
                },
            }
        )
    steps.append(
        {
            "id": "promote",
            "name": f"Promote {candidate['name']}, release {base.name}",
            "action": RunKind.DEPLOY,
            "input": final,
        }
    )
    return steps
