"""Candidate vs champion: both versions re-scored on the same held-out rows
(the candidate's training data, split as training split it), with the
training job's own metrics, and compared metric by metric in each metric's
own direction (rmse and mae: lower is better)."""

from __future__ import annotations

from apps.backends.jobs.training import evaluate, minimizes

from ..models import CheckStatus
from . import CheckContext, CheckResult, check_register
from .scoring import EvidenceUnavailable, features_of, held_out, loaded_model, primary_metric, rows_digest
from .sources import backend_of

EPSILON = 1e-12  # a drop exactly at the threshold is within it


def _scored(model, data, *, who: str, version) -> tuple[dict, dict]:
    X = features_of(model, data.X, who=who)
    scores = evaluate(model.estimator, X, data.y, data.task)
    return scores, {"Version": str(version.version), "rows": len(X), "rows_digest": rows_digest(X)}


def _fmt(value: float) -> str:
    return f"{value:.4f}"


@check_register(
    "champion",
    label="Candidate vs champion",
    position=10,
    settings={"max_drop": 0.01},
    help="Both versions re-scored on the candidate's held-out data; fails when the candidate is worse than "
    "the champion on the primary metric by more than max_drop.",
)
def champion(ctx: CheckContext) -> CheckResult:
    request = ctx.request
    candidate_version, champion_version = request.model_version, request.champion
    data = held_out(candidate_version)
    candidate = loaded_model(ctx.backend, candidate_version)
    candidate_scores, candidate_rows = _scored(candidate, data, who="The candidate", version=candidate_version)
    primary = primary_metric(candidate_version, data.task, candidate_scores)
    direction = "lower" if minimizes(primary, None) else "higher"
    figures: dict = {
        "Primary metric": f"{primary} ({direction} is better)",
        "Held-out data": data.description,
        "Allowed drop": ctx.settings.get("max_drop"),
    }
    if champion_version is None:
        figures["Metrics"] = [{"Metric": k, "Candidate": round(v, 6)} for k, v in candidate_scores.items()]
        figures["Scored rows"] = {"Candidate": candidate_rows}
        return CheckResult(
            status=CheckStatus.PASSED,
            summary=f"No champion in {request.environment} yet: the candidate's own scores are "
            f"{primary} {_fmt(candidate_scores[primary])} on {len(data.X):,} held-out rows.",
            figures=figures,
        )

    champion_model = loaded_model(backend_of(champion_version, ctx), champion_version)
    try:
        champion_scores, champion_rows = _scored(
            champion_model, data, who=f"The champion ({champion_version})", version=champion_version
        )
    except EvidenceUnavailable as exc:
        return CheckResult(
            status=CheckStatus.NOT_APPLICABLE,
            summary=f"The champion cannot be scored on the candidate's data: {exc}",
            figures=figures,
        )
    figures["Scored rows"] = {"Candidate": candidate_rows, "Champion": champion_rows}
    rows = []
    for name, value in candidate_scores.items():
        theirs = champion_scores.get(name)
        row = {"Metric": name, "Better when": "lower" if minimizes(name, None) else "higher", "Candidate": value}
        if theirs is not None:
            change = value - theirs
            better = change < 0 if minimizes(name, None) else change > 0
            verdict = "same" if change == 0 else ("better" if better else "worse")
            row.update(Champion=theirs, Change=change, Verdict=verdict)
        rows.append(row)
    figures["Metrics"] = [{k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()} for row in rows]

    if primary not in champion_scores:
        return CheckResult(
            status=CheckStatus.NOT_APPLICABLE,
            summary=f"The champion ({champion_version}) reports no {primary} on these rows to compare with.",
            figures=figures,
        )
    ours, theirs = candidate_scores[primary], champion_scores[primary]
    drop = (ours - theirs) if minimizes(primary, None) else (theirs - ours)
    max_drop = ctx.settings.get("max_drop")
    compared = (
        f"The candidate scores {primary} {_fmt(ours)} against the champion's ({champion_version}) "
        f"{_fmt(theirs)} on the same {len(data.X):,} held-out rows"
    )
    if drop <= 0:
        said = "as good" if drop == 0 else f"{_fmt(-drop)} better"
        return CheckResult(status=CheckStatus.PASSED, summary=f"{compared}: {said}.", figures=figures)
    if max_drop is not None and drop > float(max_drop) + EPSILON:
        return CheckResult(
            status=CheckStatus.FAILED,
            summary=f"{compared}: {_fmt(drop)} worse, more than the allowed {max_drop}.",
            figures=figures,
        )
    allowed = f", within the allowed {max_drop}" if max_drop is not None else ""
    return CheckResult(status=CheckStatus.PASSED, summary=f"{compared}: {_fmt(drop)} worse{allowed}.", figures=figures)
