"""The evidence pack's "drift of training data vs current traffic" check, which monitoring adds
to approvals' pack through its registry (``check_register``, from ``apps.py``): approvals
never imports monitoring.

For a request filed by a drift alert's retraining: the drift report that fired (linked, with
what moved), then the candidate's own training data compared with the window's traffic the
retraining wrote: passed when they no longer drift, a warning when the candidate was trained
on data that still drifts from what the endpoint sees. Requests not filed from an alert:
not applicable.
"""

from __future__ import annotations

from apps.approvals.evidence import CheckContext, CheckResult, check_register
from apps.approvals.models import CheckStatus

from .drift import drift_report
from .models import Retraining
from .sources import SideError, dataset_profile, training_profile

KEY = "drift"


@check_register(
    KEY,
    label="Drift of training data vs current traffic",
    position=65,
    help="For a request filed by a drift alert: the report that fired, and the candidate's "
    "training data compared with the window's traffic.",
)
def drift_evidence(ctx: CheckContext) -> CheckResult:
    retraining = (
        Retraining.objects.select_related("monitor", "report", "run")
        .filter(promotion_request_id=ctx.request.pk)
        .first()
    )
    if retraining is None or retraining.report is None:
        return CheckResult(
            status=CheckStatus.NOT_APPLICABLE,
            summary="Not filed from a drift alert: no monitor's window to compare the training data with.",
        )
    monitor, report = retraining.monitor, retraining.report
    drifted = list(report.column_results.filter(drifted=True).order_by("column").values_list("column", flat=True))
    figures: dict = {
        "Monitor": {"label": monitor.name, "url": monitor.get_absolute_url()},
        "Drift report": {"label": str(report), "url": report.get_absolute_url()},
        "Window": report.current_label,
        "Drift share of the window": f"{report.n_drifted} of {report.n_columns} features",
        "Drifted features": ", ".join(drifted) or "none",
        "Retrained on": retraining.trained_on,
    }
    if retraining.trained_on_note:
        figures["Why not the window's rows"] = retraining.trained_on_note
    if retraining.run is not None:
        figures["Retraining run"] = {"label": str(retraining.run), "url": retraining.run.get_absolute_url()}
    window = retraining.window_dataset
    if not window:
        return CheckResult(
            status=CheckStatus.WARNING,
            summary=f"The window drifted ({report.n_drifted} of {report.n_columns} features); "
            "its rows were not kept, so the candidate's training data could not be compared with them.",
            figures=figures,
        )
    version = ctx.request.model_version
    try:
        training = training_profile(user=ctx.request.requested_by, version_id=version.pk)
        current = dataset_profile(window)
    except SideError as error:
        figures["Comparison"] = str(error)
        return CheckResult(status=CheckStatus.WARNING, summary=f"Could not compare: {error}", figures=figures)
    now = drift_report(training, current, columns=monitor.columns)
    still = now.drifted_columns
    figures["Candidate's training data vs the window"] = (
        f"{len(still)} of {len(now.columns)} features drift ({now.drift_share:.0%})"
    )
    figures["Still drifting"] = ", ".join(still) or "none"
    if now.dataset_drift:
        return CheckResult(
            status=CheckStatus.WARNING,
            summary=f"The candidate's training data still drifts from current traffic: "
            f"{len(still)} of {len(now.columns)} features ({', '.join(still[:5])}).",
            figures=figures,
        )
    return CheckResult(
        status=CheckStatus.PASSED,
        summary=f"The candidate's training data matches current traffic: {len(still)} of {len(now.columns)} "
        f"features drift (the window that fired: {report.n_drifted}).",
        figures=figures,
    )
