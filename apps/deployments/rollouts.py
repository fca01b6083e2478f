"""Rollouts the portal runs itself, on every backend alike (local, Databricks
Model Serving, SageMaker Inf1 and the rest): a plan of run-engine steps.

    deploy     the candidate joins the endpoint beside the baseline, at 0%
    stage-N    shift traffic, bake, judge the candidate on the gateway's
               rollups against the baseline; advance, or roll back on its own
    promote    the candidate alone at 100%; the baseline's fleet is released

Strategies: ``all_at_once`` (the candidate replaces the endpoint's variants),
``canary`` (one stage at ``percent``, then all), ``linear`` (stages of
``step_percent`` every ``interval_seconds``), ``blue_green`` (all traffic to
the new fleet at once, the old one kept for ``termination_wait_seconds`` and
switched back to if the new one misbehaves).

A stage judges the candidate continuously while it bakes: once it has
``min_requests`` it rolls back as soon as a threshold is crossed, and it ends
only when the bake time is over *and* the candidate has been seen serving
``min_requests`` (too little traffic holds the stage, saying so). A person
can cut a stage short from the endpoint page: "promote now" or "roll back".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from apps.backends.base import Endpoints, JobState, JobStatus
from apps.core.templatetags.atrium import duration as _duration
from apps.runs.models import RunStep
from apps.runs.operations import Operation

from . import telemetry
from .models import Endpoint, EndpointEvent, EndpointState

STAGE_ACTION = "rollout_stage"
STRATEGIES = ("all_at_once", "canary", "linear", "blue_green")

# Rollback thresholds, absolute and relative to the baseline variant.
DEFAULT_THRESHOLDS = {
    "max_error_rate": 0.05,  # share of 5xx answers
    "max_error_rate_increase": 0.02,  # over the baseline's error rate
    # 4xx answers over the baseline's. Not absolute: clients' own bad requests are 4xx on
    # every variant alike. But the same clients split at random between the two, so a
    # candidate refusing more of them refuses what the baseline serves: a model that fails
    # where the server says 400 (Databricks Model Serving, MLflow's scoring server), or one
    # that wants other columns.
    "max_client_error_rate_increase": 0.05,
    "max_p95_ms": None,  # absolute p95 latency, when set
    "max_p95_ratio": 2.0,  # times the baseline's p95 (and at least P95_NOISE_MS more)
    "min_requests": 20,  # requests to the candidate before it is judged
}
# A fresh variant answers its first requests slower (cold caches, a loaded host): a p95 within
# this of the baseline's is noise, not a regression, whatever the ratio.
P95_NOISE_MS = 50.0


def rollout_plan(
    *,
    strategy: str,
    percent: int = 10,
    bake_seconds: int = 300,
    step_percent: int = 25,
    interval_seconds: int = 300,
    termination_wait_seconds: int = 300,
) -> list[tuple[int, int]]:
    """The stages as (candidate percent, bake seconds); empty for all_at_once."""
    if strategy == "canary":
        return [(percent, bake_seconds)]
    if strategy == "linear":
        shares = list(range(step_percent, 100, step_percent))
        return [(share, interval_seconds) for share in shares] + [(100, interval_seconds)]
    if strategy == "blue_green":
        return [(100, termination_wait_seconds)]
    return []


@dataclass(frozen=True)
class Verdict:
    healthy: bool | None  # None: not enough traffic to tell yet
    reason: str
    figures: dict


def judge(candidate: telemetry.Figures | None, baseline: telemetry.Figures | None, thresholds: dict) -> Verdict:
    """The candidate against the absolute thresholds and against the baseline."""
    limits = {**DEFAULT_THRESHOLDS, **{k: v for k, v in thresholds.items() if v is not None}}
    seen = candidate.requests if candidate else 0
    figures = {
        "candidate": _figures(candidate),
        "baseline": _figures(baseline),
    }
    if seen < limits["min_requests"]:
        return Verdict(None, f"{seen} of the {limits['min_requests']} requests needed to judge the candidate", figures)
    rate = candidate.error_rate or 0.0
    base_rate = (baseline.error_rate or 0.0) if baseline and baseline.requests else None
    problems = []
    if rate > limits["max_error_rate"]:
        problems.append(f"error rate {rate:.1%} is above {limits['max_error_rate']:.1%}")
    if base_rate is not None and rate - base_rate > limits["max_error_rate_increase"]:
        problems.append(
            f"error rate {rate:.1%} is {rate - base_rate:.1%} above the baseline's {base_rate:.1%} "
            f"(at most {limits['max_error_rate_increase']:.1%})"
        )
    refused = candidate.client_errors / seen
    base_refused = baseline.client_errors / baseline.requests if _enough(baseline, limits) else None
    if base_refused is not None and refused - base_refused > limits["max_client_error_rate_increase"]:
        problems.append(
            f"4xx rate {refused:.1%} is {refused - base_refused:.1%} above the baseline's {base_refused:.1%} "
            f"(at most {limits['max_client_error_rate_increase']:.1%}): it refuses requests the baseline answers"
        )
    p95 = candidate.p95_ms
    if p95 is not None and limits["max_p95_ms"] is not None and p95 > limits["max_p95_ms"]:
        problems.append(f"p95 latency {p95:.0f} ms is above {limits['max_p95_ms']:.0f} ms")
    base_p95 = baseline.p95_ms if _enough(baseline, limits) else None
    if (
        p95 is not None
        and base_p95 is not None
        and p95 > base_p95 * limits["max_p95_ratio"]
        and p95 - base_p95 > P95_NOISE_MS
    ):
        problems.append(
            f"p95 latency {p95:.0f} ms is over {limits['max_p95_ratio']:g}× the baseline's {base_p95:.0f} ms"
        )
    if problems:
        return Verdict(False, "; ".join(problems) + f" (over {seen} requests)", figures)
    summary = f"error rate {rate:.1%}" + (f" (baseline {base_rate:.1%})" if base_rate is not None else "")
    if p95 is not None:
        summary += f", p95 {p95:.0f} ms" + (f" (baseline {base_p95:.0f} ms)" if base_p95 is not None else "")
    return Verdict(True, f"{summary} over {seen} requests", figures)


def _enough(baseline: telemetry.Figures | None, limits: dict) -> bool:
    """The baseline served enough requests in the window to compare rates and latency with."""
    return baseline is not None and baseline.requests >= limits["min_requests"]


def _figures(f: telemetry.Figures | None) -> dict:
    if f is None:
        return {"requests": 0}
    return {
        "requests": f.requests,
        "errors": f.errors,
        "client_errors": f.client_errors,
        "error_rate": f.error_rate,
        "p95_ms": f.p95_ms,
    }


class RolloutStage(Operation):
    """One stage: shift traffic to ``weights``, bake, judge; roll back on its own."""

    kind = STAGE_ACTION
    capability = Endpoints
    says_why = True

    def validate(self, params):
        errors = {}
        for key in ("endpoint", "candidate", "baseline"):
            if not isinstance(params.get(key), str) or not params.get(key):
                errors[key] = ["Required."]
        weights = params.get("weights")
        if not isinstance(weights, dict) or sum(weights.values()) != 100:
            errors["weights"] = ["Weights must add up to 100."]
        bake = params.get("bake_seconds")
        if not isinstance(bake, int) or bake < 0:
            errors["bake_seconds"] = ["A number of seconds, 0 or more."]
        return errors

    def submit(self, backend, job):
        params = job.params
        endpoint = _endpoint(params)
        if endpoint.rollout_command == "rollback":
            return f"{params['endpoint']}#{job.key}"  # the poll rolls back at once
        backend.update_traffic(params["endpoint"], dict(params["weights"]))
        _weights_set(
            endpoint,
            params["weights"],
            kind=EndpointEvent.Kind.STAGE,
            run_id=_run_id(job),
            message=f"{params['stage_label']}: {params['weights'][params['candidate']]}% of traffic to "
            f"{params['candidate']}, baking {_duration(params['bake_seconds'])}",
        )
        return f"{params['endpoint']}#{job.key}"

    def poll(self, backend, job):
        params = job.params
        endpoint = _endpoint(params)
        command = endpoint.rollout_command
        step = RunStep.objects.filter(idempotency_key=job.key).values("started_at", "run_id").get()
        if command == "rollback":
            reason = f"Rolled back by {endpoint.rollout_command_by or 'a user'}"
            return self._roll_back(backend, endpoint, params, reason, automatic=False, run_id=step["run_id"])
        started = step["started_at"]
        now = timezone.now()
        elapsed = (now - started).total_seconds() if started else 0.0
        since = (started or now).replace(second=0, microsecond=0)
        figures = telemetry.figures_by_variant(endpoint_id=endpoint.pk, since=since)
        verdict = judge(
            figures.get(params["candidate"]), figures.get(params["baseline"]), params.get("thresholds") or {}
        )
        outputs = {"verdict": verdict.reason, "figures": verdict.figures, "weights": params["weights"]}
        if verdict.healthy is False:
            reason = f"Rolled back automatically: {verdict.reason}"
            return self._roll_back(backend, endpoint, params, reason, automatic=True, run_id=step["run_id"])
        if command == "promote":
            if not self._drained(backend, endpoint, params, run_id=step["run_id"]):
                return self._draining(params, outputs)
            return JobStatus(state=JobState.SUCCEEDED, progress=100, message="Promoted now", outputs=outputs)
        bake = params["bake_seconds"]
        if elapsed < bake:
            message = f"Baking: {_duration(elapsed)} of {_duration(bake)}; {verdict.reason}"
            return JobStatus(
                state=JobState.RUNNING, progress=min(99.0, 100 * elapsed / bake), message=message, outputs=outputs
            )
        if verdict.healthy is None:
            return JobStatus(
                state=JobState.RUNNING, progress=99.0, message=f"Holding: {verdict.reason}", outputs=outputs
            )
        if not self._drained(backend, endpoint, params, run_id=step["run_id"]):
            return self._draining(params, outputs)
        return JobStatus(state=JobState.SUCCEEDED, progress=100, message=f"Healthy: {verdict.reason}", outputs=outputs)

    def _drained(self, backend, endpoint: Endpoint, params: dict, *, run_id) -> bool:
        """The last stage hands all traffic to the candidate, then waits until no
        gateway still routes to the baseline (they trust a route for
        GATEWAY_CACHE_SECONDS) before the promotion releases it: a client never
        gets sent to a variant that is gone. Each move waits for the backend to
        have ended its last change (a SageMaker weights update, a Databricks
        config update), which it refuses mid-way."""
        if not params.get("last"):
            return True
        final = {params["baseline"]: 0, params["candidate"]: 100}
        if endpoint.weights != final:
            if not _settled(backend, params["endpoint"]):
                return False
            backend.update_traffic(params["endpoint"], final)
            _weights_set(
                endpoint,
                final,
                kind=EndpointEvent.Kind.STAGE,
                run_id=run_id,
                message=f"All traffic to {params['candidate']}; {params['baseline']} drains, then it is released",
            )
            return False
        waited = (timezone.now() - endpoint.updated_at).total_seconds() >= settings.GATEWAY_CACHE_SECONDS + 1
        return waited and _settled(backend, params["endpoint"])

    def _draining(self, params: dict, outputs: dict) -> JobStatus:
        message = f"All traffic to {params['candidate']}: draining {params['baseline']} before it is released"
        return JobStatus(state=JobState.RUNNING, progress=99.0, message=message, outputs=outputs)

    def _roll_back(self, backend, endpoint: Endpoint, params: dict, reason: str, *, automatic: bool, run_id):
        """Harm stops first: the portal's weights, which every gateway routes by, go back to the
        baseline before the backend's are asked to. The backend may refuse for now (still busy
        with the stage's own shift: a Databricks config update takes minutes); the poll then
        retries, and the decision already taken stands, with the reason it was taken for."""
        weights = {params["baseline"]: 100, params["candidate"]: 0}
        taken = EndpointEvent.objects.filter(endpoint=endpoint, run_id=run_id, kind=EndpointEvent.Kind.ROLLED_BACK)
        earlier = taken.order_by("id").first()
        if earlier is not None:
            reason, automatic = earlier.message, earlier.automatic
        _weights_set(
            endpoint,
            weights,
            kind=EndpointEvent.Kind.ROLLED_BACK,
            message=reason,
            automatic=automatic,
            actor=None if automatic else endpoint.rollout_command_by,
            run_id=run_id,
        )
        backend.update_traffic(params["endpoint"], weights)  # the candidate's fleet goes with "cleanup"
        return JobStatus(state=JobState.FAILED, message=reason, outputs={"weights": weights, "rolled_back": True})


def _settled(backend, name: str) -> bool:
    """The backend is not mid-change on the endpoint (a failed one goes on, to say so when next changed)."""
    return backend.get_endpoint(name).state not in ("creating", "updating")


def _endpoint(params: dict) -> Endpoint:
    return Endpoint.objects.select_related("rollout_command_by").get(pk=params["endpoint_id"])


def _run_id(job):
    return RunStep.objects.filter(idempotency_key=job.key).values_list("run_id", flat=True).first()


def _weights_set(
    endpoint: Endpoint, weights: dict, *, kind: str, message: str, automatic: bool = True, actor=None, run_id=None
) -> None:
    """The portal's split (the gateway routes by it) and a line of the endpoint's history, unless already so."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        weights=weights, state=EndpointState.IN_SERVICE, updated_at=timezone.now()
    )
    if not EndpointEvent.objects.filter(endpoint=endpoint, run_id=run_id, kind=kind, message=message).exists():
        EndpointEvent.objects.create(
            endpoint=endpoint,
            kind=kind,
            message=message,
            weights=weights,
            automatic=automatic,
            actor=actor,
            run_id=run_id,
        )
