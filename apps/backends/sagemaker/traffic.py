"""Traffic the portal moves itself, kept in endpoint tags.

* ``rollback_endpoint`` undoes the portal's last change to an endpoint (a
  weights change or a config change), kept a few deep in the tags
  ``atrium:undo:<n>`` (0 is the last change); each rollback pops one.
* ``ml.inf1.*`` has no deployment guardrails on AWS, so the portal shifts
  traffic itself: the new variant joins at weight 0 (``endpoints.py``), then
  each poll that finds the endpoint InService applies the next weight step,
  stored in the tag ``atrium:shift`` as ``<variant>:<percent>.<percent>...``.
"""

from __future__ import annotations

from ..base import EndpointSpec
from .client import tag_dict

UNDO_TAG = "atrium:undo"  # atrium:undo:0 is the last change, :1 the one before, ...
UNDO_DEPTH = 5
SHIFT_TAG = "atrium:shift"


def percentages(variants: list[dict]) -> dict[str, int]:
    weights = {v["VariantName"]: float(v.get("CurrentWeight", v.get("DesiredWeight", 0)) or 0) for v in variants}
    total = sum(weights.values())
    if not total:
        return dict.fromkeys(weights, 0)
    return {name: round(100 * weight / total) for name, weight in weights.items()}


def set_weights(sm, endpoint: str, weights: dict) -> None:
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": k, "DesiredWeight": float(v)} for k, v in weights.items()],
    )


def tags(sm, arn: str) -> dict[str, str]:
    return tag_dict(sm.list_tags(ResourceArn=arn).get("Tags", []))


def set_tags(sm, arn: str, values: dict[str, str]) -> None:
    """Replace the tags of ``values``' keys."""
    sm.delete_tags(ResourceArn=arn, TagKeys=list(values))
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in values.items()])


# --- the undo stack ----------------------------------------------------------------


def push_undo(sm, arn: str, change: str, extra: dict[str, str]) -> None:
    """Remember how to undo a change (a few deep, in endpoint tags); a new change ends any shift."""
    found = tags(sm, arn)
    stack = [found[f"{UNDO_TAG}:{i}"] for i in range(UNDO_DEPTH) if f"{UNDO_TAG}:{i}" in found]
    write_undo(sm, arn, [change, *stack][:UNDO_DEPTH], extra)


def last_change(found: dict[str, str]) -> tuple[str, str]:
    """The kind ("weights", "config" or "") and value of the change a rollback undoes."""
    kind, _, value = found.get(f"{UNDO_TAG}:0", "").partition(":")
    return kind, value


def pop_undo(sm, arn: str, found: dict[str, str]) -> None:
    write_undo(sm, arn, [found[f"{UNDO_TAG}:{i}"] for i in range(1, UNDO_DEPTH) if f"{UNDO_TAG}:{i}" in found], {})


def write_undo(sm, arn: str, stack: list[str], extra: dict[str, str]) -> None:
    sm.delete_tags(ResourceArn=arn, TagKeys=[SHIFT_TAG] + [f"{UNDO_TAG}:{i}" for i in range(UNDO_DEPTH)])
    values = {**{f"{UNDO_TAG}:{i}": change for i, change in enumerate(stack)}, **extra}
    if values:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in values.items()])


def weights_undo(current: dict[str, int]) -> str:
    return "weights:" + "/".join(f"{k}={v}" for k, v in current.items())


def parse_weights(value: str) -> dict[str, str]:
    return dict(pair.split("=") for pair in value.split("/") if pair)


# --- inf1: the portal's own traffic shift -----------------------------------------------


def shift_plan(spec: EndpointSpec, variant: str) -> dict[str, str]:
    """The shift tag for an inf1 rollout of ``variant`` by ``spec.rollout``."""
    if spec.rollout == "canary":
        steps = [spec.canary_percent, 100]
    elif spec.rollout == "linear":
        steps = [*range(spec.canary_percent, 100, max(1, spec.canary_percent)), 100]
    else:
        steps = [100]
    return {SHIFT_TAG: f"{variant}:{'.'.join(map(str, steps))}"}


def shift_step(sm, endpoint: dict, shift: str) -> dict[str, int]:
    """Apply the next step of a portal-driven traffic shift (inf1)."""
    new, _, steps = shift.partition(":")
    remaining = [int(s) for s in steps.split(".") if s]
    percent, rest = remaining[0], remaining[1:]
    current = percentages(endpoint.get("ProductionVariants", []))
    others = {k: v for k, v in current.items() if k != new}
    total = sum(others.values())
    weights = {k: (100 - percent) * (v / total if total else 1 / max(1, len(others))) for k, v in others.items()}
    weights[new] = percent
    set_weights(sm, endpoint["EndpointName"], weights)
    if rest:
        set_tags(sm, endpoint["EndpointArn"], {SHIFT_TAG: f"{new}:{'.'.join(map(str, rest))}"})
    else:
        sm.delete_tags(ResourceArn=endpoint["EndpointArn"], TagKeys=[SHIFT_TAG])
    return {k: round(v) for k, v in weights.items()}
