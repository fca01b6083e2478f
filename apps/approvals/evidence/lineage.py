"""Lineage: dataset -> training run -> version, with links (the portal's own
pages first, then the backend's)."""

from __future__ import annotations

from ..models import CheckStatus
from . import CheckContext, CheckResult, check_register
from .scoring import registered_by, training_params


def _training_step(version):
    return next((step for step in version.run.steps.all() if registered_by(step, version)), None)


@check_register("lineage", label="Lineage", position=60, help="Dataset, training run and version, with links.")
def lineage(ctx: CheckContext) -> CheckResult:
    version = ctx.request.model_version
    run = version.run
    params = training_params(version)
    dataset = params.get("dataset") or version.dataset or "unknown"
    version_link = {"label": str(version), "url": version.get_absolute_url()}
    figures: dict = {
        "Dataset": dataset,
        "Algorithm": params.get("algorithm") or "not recorded",
        "Model version": version_link,
        "Source run id": version.source_run_id or "none",
    }
    if run is None:
        figures["Training run"] = "none on record"
        return CheckResult(
            status=CheckStatus.WARNING,
            summary=f"Trained outside the portal: no run on record ({dataset} → {version}).",
            figures=figures,
        )
    step = _training_step(version)
    run_link = {"label": str(run), "url": run.get_absolute_url()}
    figures["Training run"] = run_link
    figures["Links"] = [
        {"label": "Training run", "url": run_link["url"]},
        {"label": "Model version", "url": version_link["url"]},
        *((step.links or []) if step is not None else []),  # the backend's own pages (MLflow run...)
    ]
    mlflow_run = version.source_run_id or ((step.outputs or {}).get("mlflow_run_id") if step else "")
    if mlflow_run:
        figures["Source run id"] = mlflow_run
    return CheckResult(
        status=CheckStatus.PASSED,
        summary=f"{dataset} → training run {run} ({run.created_by}) → {version}.",
        figures=figures,
    )
