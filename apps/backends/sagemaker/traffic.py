"""Weights, and the portal's changes to an endpoint kept in its tags.

``rollback_endpoint`` undoes the portal's last change to an endpoint (a
weights change or a config change), kept a few deep in the tags
``atrium:undo:<n>`` (0 is the last change); each rollback pops one.
(``ml.inf1.*`` has no deployment guardrails: its canaries are the portal's
rollouts, apps/deployments/rollouts.py, which set weights through
``update_traffic`` stage by stage; nothing here shifts traffic on its own.)
"""

from __future__ import annotations

from .client import tag_dict

UNDO_TAG = "atrium:undo"  # atrium:undo:0 is the last change, :1 the one before, ...
UNDO_DEPTH = 5
SHIFT_TAG = "atrium:shift"  # an older Atrium's own inf1 shift: cleared by the next change, never followed


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


# --- the undo stack ----------------------------------------------------------------


def push_undo(sm, arn: str, change: str, extra: dict[str, str]) -> None:
    """Remember how to undo a change (a few deep, in endpoint tags)."""
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
