"""The evidence pack: checks registered by apps, collected by a run of the engine.

A check is a function ``fn(context) -> CheckResult`` registered under a key
with ``check_register`` (this app registers champion, explainability, bias,
latency, cost and lineage in ``checks``; the monitoring app adds drift), so
the pack grows without touching this code. A request's evidence is a run of
kind "evidence" with one step per check; each step fills the request's
``EvidenceCheck`` row of that key.

A check that cannot be collected (the model cannot be loaded, the data is
gone) is recorded as ``error`` with the reason and the pack goes on: one
missing figure never hides the others from the approver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from apps.backends.base import JobState, JobStatus, Registry
from apps.runs.operations import Operation

from ..models import CheckStatus, EvidenceCheck, PromotionRequest

logger = logging.getLogger(__name__)

EVIDENCE_ACTION = "evidence_check"


@dataclass(frozen=True)
class CheckContext:
    request: PromotionRequest  # with model_version, champion, policy, environment loaded
    settings: dict  # the policy's settings for this check: thresholds, "required"
    backend: object  # the model's registry backend (apps.backends.base.Registry)


@dataclass(frozen=True)
class CheckResult:
    status: str  # a CheckStatus value
    summary: str  # one sentence a person reads in the inbox
    figures: dict = field(default_factory=dict)  # labelled figures for the request page
    chart: dict | None = None  # a Plotly figure (as a dict), when the check has one


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    position: int
    fn: Callable[[CheckContext], CheckResult]
    # The thresholds a policy can set for this check, with their defaults and
    # what they mean (the policy editor shows them).
    settings: dict = field(default_factory=dict)
    help: str = ""


CHECKS: dict[str, Check] = {}


def check_register(
    key: str, *, label: str, position: int, settings: dict | None = None, help: str = ""
) -> Callable[[Callable[[CheckContext], CheckResult]], Callable[[CheckContext], CheckResult]]:
    """Register a check of the evidence pack (from an app's ``AppConfig.ready``)."""

    def register(fn):
        CHECKS[key] = Check(key=key, label=label, position=position, fn=fn, settings=settings or {}, help=help)
        return fn

    return register


def checks_ordered() -> list[Check]:
    return sorted(CHECKS.values(), key=lambda c: (c.position, c.key))


def evidence_steps(request: PromotionRequest) -> list[dict]:
    """The evidence run's plan: one step per registered check."""
    return [
        {
            "id": check.key,
            "name": check.label,
            "action": EVIDENCE_ACTION,
            "input": {"request_id": str(request.pk), "check": check.key},
        }
        for check in checks_ordered()
    ]


def checks_create(request: PromotionRequest) -> None:
    """A pending row per check, so the request page shows the whole pack filling in."""
    policy_checks = request.policy.checks or {}
    EvidenceCheck.objects.bulk_create(
        [
            EvidenceCheck(
                request=request,
                key=check.key,
                label=check.label,
                position=check.position,
                required=bool((policy_checks.get(check.key) or {}).get("required")),
            )
            for check in checks_ordered()
        ]
    )


def check_collect(*, request_id, key: str, backend) -> CheckResult:
    """Collect one check and store it on the request (idempotent: the row is overwritten)."""
    request = PromotionRequest.objects.select_related(
        "model_version__model", "champion__model", "policy", "environment", "team", "model_version__run"
    ).get(pk=request_id)
    check = CHECKS[key]
    settings = {**check.settings, **((request.policy.checks or {}).get(key) or {})}
    try:
        result = check.fn(CheckContext(request=request, settings=settings, backend=backend))
    except Exception as exc:  # one check that cannot be collected never hides the others
        logger.exception("evidence %s of request %s could not be collected", key, request_id)
        result = CheckResult(status=CheckStatus.ERROR, summary=f"Could not be collected: {exc}")
    EvidenceCheck.objects.update_or_create(
        request=request,
        key=key,
        defaults={
            "label": check.label,
            "position": check.position,
            "required": bool(settings.get("required")),
            "status": result.status,
            "summary": result.summary[:2000],
            "figures": result.figures,
            "chart": result.chart,
            "collected_at": timezone.now(),
        },
    )
    return result


class EvidenceStep(Operation):
    """Collects one check of a request's evidence pack, in the worker: the
    check's work is local and bounded (held-out rows, sampled explainers)."""

    kind = EVIDENCE_ACTION
    capability = Registry
    says_why = True

    def validate(self, params):
        errors = {}
        if not params.get("request_id"):
            errors["request_id"] = ["Required."]
        if params.get("check") not in CHECKS:
            errors["check"] = [f"One of {', '.join(CHECKS)}."]
        return errors

    def submit(self, backend, job):
        return f"evidence:{job.params['request_id']}:{job.params['check']}"

    def poll(self, backend, job):
        result = check_collect(request_id=job.params["request_id"], key=job.params["check"], backend=backend)
        label = CheckStatus(result.status).label
        return JobStatus(
            state=JobState.SUCCEEDED,
            progress=100,
            message=f"{label}: {result.summary}"[:500],
            outputs={"status": result.status, "summary": result.summary},
        )
