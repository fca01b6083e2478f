"""Explainability: global feature importance with SHAP (mean |SHAP value| per
feature over held-out rows).

Tree ensembles and trees get shap's TreeExplainer, linear models its
LinearExplainer (against a background of training rows); any other model, or
one of those that shap cannot read (a multi-class gradient boosting, say),
a sampled model-agnostic explainer: permutations over ``BACKGROUND_ROWS``
training rows, with as many held-out rows as ``PREDICTION_BUDGET`` model
outputs allow (at most ``EXPLAINED_ROWS``). Multi-output models (class
probabilities) are averaged over their outputs.
"""

from __future__ import annotations

import warnings

from apps.core.charts import horizontal_bar_chart

from ..models import CheckStatus
from . import CheckContext, CheckResult, check_register
from .scoring import features_of, held_out, loaded_model

BACKGROUND_ROWS = 50
EXPLAINED_ROWS = 100
PREDICTION_BUDGET = 200_000  # rows the sampled explainer may have the model score
TOP = 10
TREE_MODULES = ("sklearn.ensemble", "sklearn.tree")
LINEAR_MODULES = ("sklearn.linear_model",)


def _sampled(estimator, background, rows):
    import shap

    # Permutation needs 2 * features + 1 evaluations per row; twice that for a steadier estimate.
    evaluations = 2 * (2 * background.shape[1] + 1)
    fits = max(10, min(EXPLAINED_ROWS, PREDICTION_BUDGET // (evaluations * len(background))))
    rows = rows.iloc[:fits]
    output = estimator.predict_proba if hasattr(estimator, "predict_proba") else estimator.predict
    explainer = shap.explainers.Permutation(output, shap.maskers.Independent(background, max_samples=len(background)))
    explained = explainer(rows, max_evals=evaluations, silent=True)
    what = "class probabilities" if hasattr(estimator, "predict_proba") else "predictions"
    return explained.values, f"sampled permutation explainer ({len(background)} background rows) of the {what}", rows


def shap_values(estimator, background, rows):
    """(SHAP values, how they were computed, the rows explained)."""
    import shap

    module = type(estimator).__module__
    try:
        if module.startswith(TREE_MODULES):
            values = shap.TreeExplainer(estimator)(rows, check_additivity=False).values
            return values, "TreeExplainer", rows
        if module.startswith(LINEAR_MODULES):
            values = shap.LinearExplainer(estimator, background)(rows).values
            return values, f"LinearExplainer ({len(background)} background rows) of the model's margin", rows
    except Exception:  # noqa: S110 - a model shap's fast explainers do not read: the sampled one does
        pass
    return _sampled(estimator, background, rows)


def importances(values, features) -> list[tuple[str, float]]:
    """Mean |SHAP| per feature (averaged over outputs), largest first."""
    import numpy as np

    magnitude = np.abs(np.asarray(values, dtype=float)).mean(axis=0)
    if magnitude.ndim > 1:  # (features, outputs)
        magnitude = magnitude.mean(axis=1)
    return sorted(zip(features, magnitude.tolist(), strict=True), key=lambda pair: -pair[1])


@check_register(
    "explainability",
    label="Explainability (SHAP)",
    position=20,
    settings={"max_share": 0.8},
    help="Global feature importance (mean |SHAP|); a warning when one feature carries more than max_share "
    "of the total, which often means a leak of the target.",
)
def explainability(ctx: CheckContext) -> CheckResult:
    version = ctx.request.model_version
    data = held_out(version)
    model = loaded_model(ctx.backend, version)
    rows = features_of(model, data.X, who="The candidate").iloc[:EXPLAINED_ROWS]
    train = features_of(model, data.X_train, who="The candidate")
    background = train.sample(min(BACKGROUND_ROWS, len(train)), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values, method, explained = shap_values(model.estimator, background, rows)
    ranked = importances(values, list(rows.columns))
    total = sum(value for _, value in ranked) or 1.0
    top = ranked[:TOP]
    figures = {
        "Explainer": method,
        "Rows explained": len(explained),
        "Top features": [
            {"Feature": name, "Mean |SHAP|": value, "Share (%)": round(100 * value / total, 1)} for name, value in top
        ],
    }
    chart = horizontal_bar_chart(
        labels=[name for name, _ in top],
        values=[value for _, value in top],
        title=f"Top {len(top)} features by mean |SHAP value|",
        x_title="mean |SHAP value|",
    )
    leader, share = ranked[0][0], ranked[0][1] / total
    max_share = ctx.settings.get("max_share")
    if max_share is not None and share > float(max_share):
        return CheckResult(
            status=CheckStatus.WARNING,
            summary=f"One feature, {leader}, carries {share:.0%} of the importance (over {float(max_share):.0%}): "
            "check that it is not a copy of the target leaking into the features.",
            figures=figures,
            chart=chart,
        )
    leaders = ", ".join(f"{name} ({value / total:.0%})" for name, value in ranked[:3])
    return CheckResult(
        status=CheckStatus.PASSED, summary=f"The model leans most on {leaders}.", figures=figures, chart=chart
    )
