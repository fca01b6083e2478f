"""What the approvals pages say, in words people read: a policy's rules, what
changed from one policy version to the next, the requested deployment as
labelled fields, a rollout, and an evidence check's figures as labelled values
and small tables (never raw JSON). Pure functions of rows already loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils import timezone

from apps.core import charts
from apps.core.templatetags.atrium import as_fields, duration
from apps.deployments.forms import STRATEGY_LABELS, TARGET_LABELS
from apps.deployments.rollouts import rollout_plan

from . import evidence


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def label_of(key: str) -> tuple[str, str]:
    """A figure's or setting's key as a label and its unit: "p95_ms" -> ("P95", "ms")."""
    row = as_fields({key: ""})
    return (row[0]["name"], row[0]["unit"]) if row else (str(key), "")


def _team_names(teams) -> str:
    names = [t.name for t in teams]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def _setting_words(key: str, value) -> str:
    label, unit = label_of(key)
    if value is None:
        return f"{label.lower()}: none"
    return f"{label.lower()} {format_number(value)}{f' {unit}' if unit else ''}"


def required_checks(policy) -> list[str]:
    """The required checks of a policy, each with its thresholds in words."""
    found = []
    for check in evidence.checks_ordered():
        settings = (policy.checks or {}).get(check.key) or {}
        if not settings.get("required"):
            continue
        thresholds = {**check.settings, **{k: v for k, v in settings.items() if k != "required"}}
        words = ", ".join(_setting_words(k, v) for k, v in thresholds.items())
        found.append(f"{check.label}{f' ({words})' if words else ''}")
    return found


def policy_rules(policy, *, approver_teams=None) -> list[str]:
    """A policy's rules as sentences: "2 approvals from team Demo's approvers", ..."""
    teams = list(policy.approver_teams.all() if approver_teams is None else approver_teams)
    environment = policy.environment
    who = f"approvers of team {_team_names(teams)}" if teams else f"team {environment.team.name}'s approvers"
    rules = [
        f"{plural(policy.approvals_required, 'approval')} from {who}",
        "the requester cannot approve their own request",
        "any rejection rejects",
        f"a request expires after {plural(policy.expiry_days, 'day')} without a decision",
    ]
    required = required_checks(policy)
    rules.append(
        "evidence that must pass before approval: " + "; ".join(required)
        if required
        else "no evidence check is required to pass (the evidence is still shown)"
    )
    if policy.sensitive_column:
        rules.append(f"bias is measured across the column \u201c{policy.sensitive_column}\u201d")
    return rules


def policy_changes(policies: list) -> list[dict]:
    """Each policy version (newest first) with what it changed from the one before."""
    ordered = sorted(policies, key=lambda p: p.version)
    history = []
    previous = None
    for policy in ordered:
        changes = ["first version"] if previous is None else _diff(previous, policy)
        history.append({"policy": policy, "changes": changes or ["no change to the rules"]})
        previous = policy
    return list(reversed(history))


def _diff(old, new) -> list[str]:
    changes = []
    if old.approvals_required != new.approvals_required:
        changes.append(f"approvals needed {old.approvals_required} \u2192 {new.approvals_required}")
    old_teams = sorted(t.name for t in old.approver_teams.all())
    new_teams = sorted(t.name for t in new.approver_teams.all())
    if old_teams != new_teams:
        changes.append(
            f"approver teams {', '.join(old_teams) or 'its own team'} \u2192 {', '.join(new_teams) or 'its own team'}"
        )
    if old.expiry_days != new.expiry_days:
        changes.append(f"expiry {old.expiry_days} \u2192 {plural(new.expiry_days, 'day')}")
    if old.sensitive_column != new.sensitive_column:
        changes.append(f"sensitive column {old.sensitive_column or 'none'} \u2192 {new.sensitive_column or 'none'}")
    labels = {c.key: c.label for c in evidence.checks_ordered()}
    for key in sorted(set(old.checks or {}) | set(new.checks or {})):
        before, after = (old.checks or {}).get(key) or {}, (new.checks or {}).get(key) or {}
        label = labels.get(key, key)
        if bool(before.get("required")) != bool(after.get("required")):
            changes.append(f"{label} {'now required' if after.get('required') else 'no longer required'}")
        for name in sorted((set(before) | set(after)) - {"required"}):
            if before.get(name) != after.get(name):
                setting, unit = label_of(name)
                changes.append(
                    f"{label} \u00b7 {setting.lower()} {format_number(before.get(name))} \u2192 "
                    f"{format_number(after.get(name))}{f' {unit}' if unit else ''}"
                )
    return changes


# --- the requested deployment -------------------------------------------------------------


STAGE_SETTINGS = ("percent", "bake_seconds", "step_percent", "interval_seconds", "termination_wait_seconds")


def rollout_words(rollout: dict | None) -> str:
    """ "canary: 10% for 5 min, then all" / "all at once"."""
    if not rollout:
        return "all at once"
    strategy = rollout.get("strategy", "all_at_once")
    settings = {k: v for k, v in rollout.items() if k in STAGE_SETTINGS}
    try:
        stages = rollout_plan(strategy=strategy, **settings)
    except TypeError:
        stages = []
    if not stages:
        return "all at once"
    if strategy == "blue_green":
        return f"blue/green: all traffic to the new fleet, the old one kept for {duration(stages[0][1])}"
    parts = ", ".join(f"{share}% for {duration(bake)}" for share, bake in stages if share < 100)
    return f"{strategy.replace('_', ' ')}: {parts}, then all"


def rollback_words(thresholds: dict | None) -> str:
    thresholds = thresholds or {}
    parts = []
    if thresholds.get("max_error_rate") is not None:
        parts.append(f"error rate above {format_number(thresholds['max_error_rate'] * 100)}%")
    if thresholds.get("max_p95_ms") is not None:
        parts.append(f"p95 latency above {format_number(thresholds['max_p95_ms'])} ms")
    return " or ".join(parts) if parts else "the portal's defaults"


def deployment_fields(deployment: dict | None, *, connection_name: str = "", runner: str = "") -> list[tuple[str, str]]:
    """The requested deployment as (label, value) rows; [] for "only promote"."""
    if not deployment:
        return []
    rollout = deployment.get("rollout") or {}
    hardware = (
        deployment["instance_type"]
        if deployment.get("instance_type")
        else TARGET_LABELS.get(deployment.get("target") or "cpu", deployment.get("target") or "")
    )
    rows = [
        ("Endpoint", deployment.get("endpoint", "")),
        ("Where", connection_name or "this portal's local backend"),
        ("Hardware", hardware),
        ("Instances", str(deployment.get("instance_count", 1))),
        ("Rollout", rollout_words(rollout)),
        *([("Run by", runner)] if runner else []),
        ("Rolled back on", rollback_words(rollout.get("thresholds"))),
    ]
    return rows


def strategy_label(key: str) -> str:
    return STRATEGY_LABELS.get(key, key)


def endpoint_default(model_name: str, environment: str) -> str:
    """The endpoint a promotion deploys to unless told: "<model>-<environment>", as an endpoint name."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", f"{model_name}-{environment}").strip("-").lower()
    return name[:63].rstrip("-") or "endpoint"


# --- evidence figures ------------------------------------------------------------------------


def format_number(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.3f}".rstrip("0").rstrip(".")
        return f"{value:.4g}"
    return str(value)


def _cell(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{label_of(k)[0]} {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if value is None:
        return "—"
    return format_number(value)


@dataclass
class Block:
    """One figure of a check: a single value, labelled values, or a table."""

    label: str
    kind: str  # "value" | "fields" | "table"
    value: str = ""
    unit: str = ""
    fields: list = field(default_factory=list)  # [(label, value, unit)]
    columns: list = field(default_factory=list)  # [label]
    rows: list = field(default_factory=list)  # [[cell]]


def figure_blocks(figures) -> list[Block]:
    """An evidence check's figures for people: numbers and strings as labelled
    values, a dict of label -> value as labelled values, a list of rows (dicts)
    as a small table."""
    if not isinstance(figures, dict):
        return []
    blocks = []
    for key, value in figures.items():
        label, unit = label_of(key)
        if isinstance(value, dict):
            fields = []
            for k, v in value.items():
                sub_label, sub_unit = label_of(k)
                fields.append((sub_label, _cell(v), sub_unit))
            blocks.append(Block(label=label, kind="fields", fields=fields))
        elif isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            keys = list(dict.fromkeys(k for row in value for k in row))
            columns = []
            for k in keys:
                name, column_unit = label_of(k)
                columns.append(f"{name} ({column_unit})" if column_unit else name)
            rows = [[_cell(row.get(k)) for k in keys] for row in value]
            blocks.append(Block(label=label, kind="table", columns=columns, rows=rows))
        else:
            blocks.append(Block(label=label, kind="value", value=_cell(value), unit=unit))
    return blocks


def chart_figure(chart) -> dict | None:
    """A check's Plotly figure with the portal's chart layout under its own."""
    if not isinstance(chart, dict) or not chart.get("data"):
        return None
    return {"data": chart["data"], "layout": {**charts.LAYOUT, **(chart.get("layout") or {})}}


def time_left(moment, now=None) -> str:
    """ "6 days" / "3 h" until ``moment``; "" once past."""
    if moment is None:
        return ""
    seconds = (moment - (now or timezone.now())).total_seconds()
    return duration(seconds) if seconds > 0 else ""
