"""The drift methods by name (Evidently's names), what each applies to, its default
threshold and which way it drifts; and the default choice, as Evidently's
DataDriftPreset makes it (``get_stattest`` in ``stattests/registry.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.monitoring.drift import binning, statistics
from apps.monitoring.drift.sides import CategoricalSide, NumericSide, aligned_counts

NUMERICAL, CATEGORICAL = "numerical", "categorical"
# Evidently's default choice by the reference's size: at most this many values -> tests
SMALL_REFERENCE = 1_000


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    types: tuple[str, ...]
    threshold: float
    # "p<": drift when the p-value is below the threshold; "p<=": at or below it (Evidently's
    # KS); ">=": drift when the distance is at or above it
    rule: str
    numeric: Callable | None = None  # (NumericSide, NumericSide) -> (statistic, p, exact)
    categorical: Callable | None = None  # (CategoricalSide, CategoricalSide) -> (statistic, p, exact)

    def drifted(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        if self.rule == "p<":
            return p_value < threshold
        if self.rule == "p<=":
            return p_value <= threshold
        return statistic >= threshold


def _on_samples(statistic):
    def compute(reference: NumericSide, current: NumericSide):
        value, p = statistic(reference.empirical, current.empirical)
        return value, p, reference.exact and current.exact

    return compute


def _wasserstein(reference: NumericSide, current: NumericSide):
    value, _ = statistics.wasserstein_normed(reference.empirical, current.empirical, reference.profile.std)
    return value, None, reference.exact and current.exact


def _on_counts(statistic):
    def compute(reference: CategoricalSide, current: CategoricalSide):
        _, ref, cur = aligned_counts(reference, current)
        value, p = statistic(ref, cur)
        return value, p, reference.exact and current.exact

    return compute


def _on_values_as_counts(statistic):
    """A numeric column's distinct values as categories (Evidently's chi-squared and
    Z-test on a numeric column of at most five values)."""
    counts = _on_counts(statistic)

    def compute(reference: NumericSide, current: NumericSide):
        return counts(CategoricalSide.of(reference.profile), CategoricalSide.of(current.profile))

    return compute


def _on_shares(statistic, *, filled: bool, numeric_bins=binning.binned_numeric):
    def on_numeric(reference: NumericSide, current: NumericSide):
        binned = numeric_bins(reference, current)
        binned = binned.filled() if filled else binned
        value, p = statistic(binned.reference, binned.current)
        return value, p, binned.exact

    def on_categorical(reference: CategoricalSide, current: CategoricalSide):
        binned = binning.binned_categorical(reference, current)
        binned = binned.filled() if filled else binned
        value, p = statistic(binned.reference, binned.current)
        return value, p, binned.exact

    return on_numeric, on_categorical


def _both(statistic, **options) -> dict:
    numeric, categorical = _on_shares(statistic, **options)
    return {"numeric": numeric, "categorical": categorical}


BOTH = (NUMERICAL, CATEGORICAL)
METHODS = {
    method.name: method
    for method in [
        Method("ks", "K-S p-value", (NUMERICAL,), 0.05, "p<=", numeric=_on_samples(statistics.ks)),
        Method(
            "chisquare",
            "chi-square p-value",
            (CATEGORICAL,),
            0.05,
            "p<",
            numeric=_on_values_as_counts(statistics.chi_square),
            categorical=_on_counts(statistics.chi_square),
        ),
        Method(
            "z",
            "Z-test p-value",
            (CATEGORICAL,),
            0.05,
            "p<",
            numeric=_on_values_as_counts(statistics.z_test),
            categorical=_on_counts(statistics.z_test),
        ),
        Method("wasserstein", "Wasserstein distance (normed)", (NUMERICAL,), 0.1, ">=", numeric=_wasserstein),
        Method(
            "jensenshannon",
            "Jensen-Shannon distance",
            BOTH,
            0.1,
            ">=",
            **_both(statistics.jensen_shannon, filled=False),
        ),
        Method("psi", "PSI", BOTH, 0.1, ">=", **_both(statistics.psi, filled=True)),
        Method(
            "kl_div", "Kullback-Leibler divergence", BOTH, 0.1, ">=", **_both(statistics.kl_divergence, filled=True)
        ),
        Method(
            "hellinger",
            "Hellinger distance",
            BOTH,
            0.1,
            ">=",
            **_both(statistics.hellinger, filled=False, numeric_bins=binning.hellinger_numeric),
        ),
        # Not in Evidently: SageMaker Model Monitor's categorical default, 0.1 as there
        Method("linf", "L-infinity distance", BOTH, 0.1, ">=", **_both(statistics.linf, filled=False)),
        Method(
            "anderson",
            "Anderson-Darling p-value",
            (NUMERICAL,),
            0.1,
            "p<",
            numeric=_on_samples(statistics.anderson_darling),
        ),
    ]
}


def default_method(column_type: str, n_reference: int, n_values: int | None) -> Method:
    """Evidently's choice. ``n_reference``: the reference's non-missing values;
    ``n_values``: distinct values of both sides together (None: more than counted)."""
    many = n_values is None or n_values > 5
    if n_reference <= SMALL_REFERENCE:
        if column_type == NUMERICAL and many:
            return METHODS["ks"]
        return METHODS["chisquare"] if n_values is None or n_values > 2 else METHODS["z"]
    if column_type == NUMERICAL and many:
        return METHODS["wasserstein"]
    return METHODS["jensenshannon"]


def method_named(name: str, column_type: str) -> Method:
    method = METHODS.get(name)
    if method is None:
        raise ValueError(f"No drift method {name!r}; the methods are {', '.join(METHODS)}.")
    # Evidently refuses a test on a type it does not list (its default choice alone may
    # run chi-squared or Z on a numeric column of few values)
    if column_type not in method.types:
        raise ValueError(f"{method.name} does not apply to a {column_type} column (only to {', '.join(method.types)}).")
    return method
