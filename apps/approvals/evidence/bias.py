"""Bias: the candidate's metrics per group of a sensitive column on its
held-out rows, with fairlearn's MetricFrame, and their disparity (the
largest difference between two groups).

The column is the one the policy names, else the one the version declares
(tag ``atrium.sensitive_column``). A numeric column with more than
``MAX_GROUPS`` distinct values is binned into quartiles. The verdict is on
the disparity of the primary per-group metric (accuracy; r2 for regression):
high severity above ``max_disparity`` fails, above half of it warns.
"""

from __future__ import annotations

import math
from functools import partial

from apps.backends.training import CLASSIFICATION

from ..models import CheckStatus
from . import CheckContext, CheckResult, check_register
from .scoring import features_of, held_out, loaded_model

SENSITIVE_TAG = "atrium.sensitive_column"
MAX_GROUPS = 10
MISSING = "(missing)"


def _groups(column):
    """The group of each row, as text; (groups, how they were made)."""
    import pandas as pd

    values = column
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_GROUPS:
        values = pd.qcut(column, 4, duplicates="drop")
        note = f"{column.name}: {column.nunique()} distinct values, binned into quartiles"
    else:
        note = f"{column.name}: one group per value"
    return values.astype(str).where(column.notna(), MISSING), note


def _metrics(task: str, y):
    from fairlearn.metrics import count, selection_rate
    from sklearn import metrics

    if task == CLASSIFICATION:
        chosen = {"Rows": count, "Accuracy": metrics.accuracy_score}
        if y.nunique() == 2:  # the share predicted as the second (positive) class
            positive = sorted(y.unique())[1]
            chosen["Selection rate"] = partial(selection_rate, pos_label=positive)
        return chosen, "Accuracy"
    return {"Rows": count, "R2": metrics.r2_score, "MAE": metrics.mean_absolute_error}, "R2"


def _finite(value) -> float | None:
    """A metric as JSON keeps it: NaN (a one-row group's r2, say) becomes None."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


@check_register(
    "bias",
    label="Bias (fairlearn)",
    position=30,
    settings={"max_disparity": 0.1},
    help="Per-group metrics of the sensitive column; fails on a high-severity finding (the primary metric "
    "differs between groups by more than max_disparity), warns above half of it.",
)
def bias(ctx: CheckContext) -> CheckResult:
    from fairlearn.metrics import MetricFrame

    version = ctx.request.model_version
    column = ctx.request.policy.sensitive_column or (version.tags or {}).get(SENSITIVE_TAG, "")
    if not column:
        return CheckResult(
            status=CheckStatus.NOT_APPLICABLE, summary="No sensitive column named by the policy or the dataset."
        )
    data = held_out(version)
    if column not in data.X.columns:
        return CheckResult(
            status=CheckStatus.NOT_APPLICABLE,
            summary=f"The sensitive column {column} is not in {data.request.dataset} "
            f"(its columns: {', '.join(map(str, data.X.columns[:12]))}).",
        )
    model = loaded_model(ctx.backend, version)
    predicted = model.estimator.predict(features_of(model, data.X, who="The candidate"))
    groups, note = _groups(data.X[column])
    metrics, primary = _metrics(data.task, data.y)
    frame = MetricFrame(metrics=metrics, y_true=data.y, y_pred=predicted, sensitive_features=groups)
    by_group = frame.by_group
    table = [
        {"Group": str(group), **{name: int(row[name]) if name == "Rows" else _finite(row[name]) for name in metrics}}
        for group, row in by_group.iterrows()
    ]
    differences = frame.difference()
    disparity = _finite(differences[primary])
    max_disparity = float(ctx.settings.get("max_disparity") or 0.1)
    if disparity is None:
        severity = "unknown"
    else:
        severity = "high" if disparity > max_disparity else ("medium" if disparity > max_disparity / 2 else "low")
    figures = {
        "Sensitive column": column,
        "Groups": note,
        "Held-out data": data.description,
        "By group": table,
        "Disparity (largest difference between groups)": {
            name: _finite(differences[name]) for name in metrics if name != "Rows"
        },
        "Primary per-group metric": primary,
        "Allowed disparity": max_disparity,
        "Severity": severity,
    }
    if disparity is None:
        summary = f"{primary} could not be compared between groups of {column}: too few rows in each."
        return CheckResult(status=CheckStatus.WARNING, summary=summary, figures=figures)
    said = f"{primary} differs by {disparity:.3f} between groups of {column}"
    if severity == "high":
        summary = f"High-severity bias finding: {said}, more than the allowed {max_disparity}."
        return CheckResult(status=CheckStatus.FAILED, summary=summary, figures=figures)
    if severity == "medium":
        summary = f"Medium-severity bias finding: {said}, more than half the allowed {max_disparity}."
        return CheckResult(status=CheckStatus.WARNING, summary=summary, figures=figures)
    return CheckResult(status=CheckStatus.PASSED, summary=f"No bias finding: {said}.", figures=figures)
