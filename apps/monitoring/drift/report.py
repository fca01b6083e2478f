"""``drift_report``: every column of a reference and a current dataset tested for drift,
and the dataset's verdict, as Evidently's DataDriftPreset decides them.

    report = drift_report(reference_df, current_profile, columns={"age": {"method": "psi", "threshold": 0.2}})
    report.dataset_drift, report.as_dict()

Either side is a pandas DataFrame, an Arrow table or a ``DatasetProfile``. Data given
as a frame is profiled with no exact bound (it is in memory already, so every
statistic is exact); a profile is read as it is (exact, or sketch-based past its bound).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from apps.backends.jobs.profiles import CategoricalProfile, DatasetProfile, NumericProfile, profile_frame
from apps.monitoring.columns import COLUMN_FIELDS
from apps.monitoring.drift.effects import categorical_effect, missing_effect, numeric_effect
from apps.monitoring.drift.methods import CATEGORICAL, NUMERICAL, Method, default_method, method_named
from apps.monitoring.drift.sides import OTHER, CategoricalSide, NumericSide

# Evidently's dataset verdict: drift when at least this share of the columns drift
DRIFT_SHARE = 0.5
# Evidently infers an integer column with at most this many values as categorical
INTEGER_CATEGORIES = 10


@dataclass(frozen=True)
class ColumnOptions:
    method: str | None = None
    threshold: float | None = None
    type: str | None = None  # "numerical" or "categorical": instead of the inferred type


@dataclass(frozen=True)
class DriftOptions:
    """Evidently's DataDriftPreset options: a method and threshold for every column, per
    type, or per column (the most specific wins), and the dataset's drift share."""

    drift_share: float = DRIFT_SHARE
    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    threshold: float | None = None
    num_threshold: float | None = None
    cat_threshold: float | None = None
    columns: Mapping[str, ColumnOptions] = field(default_factory=dict)

    def method_for(self, column: str, column_type: str) -> str | None:
        by_type = self.num_method if column_type == NUMERICAL else self.cat_method
        return _first(self.columns.get(column, ColumnOptions()).method, by_type, self.method)

    def threshold_for(self, column: str, column_type: str) -> float | None:
        by_type = self.num_threshold if column_type == NUMERICAL else self.cat_threshold
        return _first(self.columns.get(column, ColumnOptions()).threshold, by_type, self.threshold)


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test. The threshold applies to ``p_value`` where there is one (drift
    below it), else to ``statistic`` (drift at or above it). ``n_reference`` /
    ``n_current`` are the non-missing values compared; ``missing_share`` is the current
    window's. ``rank_error``: when a side is sketch-based, the sketch's normalized rank
    error (each side's CDF within it of the data's, 99% confidence; so a KS statistic
    within twice it); None when exact. ``exact`` is False for a sketch or for categories
    folded past a profile's cap."""

    column: str
    column_type: str
    method: str
    statistic: float
    threshold: float
    drifted: bool
    p_value: float | None
    effect: str
    n_reference: int
    n_current: int
    missing_share: float
    missing_share_reference: float
    new_categories: list
    exact: bool
    rank_error: float | None

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in COLUMN_FIELDS}


@dataclass(frozen=True)
class DriftReport:
    dataset_drift: bool
    drift_share: float  # share of the tested columns that drifted
    drift_share_threshold: float
    columns: dict[str, ColumnDrift]
    skipped: dict[str, str]  # column -> why it was not tested

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, column in self.columns.items() if column.drifted]

    def as_dict(self) -> dict:
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "columns": {name: column.as_dict() for name, column in self.columns.items()},
            "skipped": dict(self.skipped),
        }


def drift_report(reference, current, columns=None, options=None, *, workers: int | None = None) -> DriftReport:
    """Test each column of ``reference`` against ``current``.

    ``columns``: None (every column both sides have), a list of names, or a mapping of
    names to ``ColumnOptions`` / dicts (``{"method": "psi", "threshold": 0.2}``).
    ``options``: ``DriftOptions`` or a dict of its fields."""
    options = _options(options, columns)
    reference, current = _profile(reference), _profile(current)
    names = list(columns) if columns else [name for name in reference.columns if name in current.columns]
    skipped = {name: reason for name in names if (reason := _missing_reason(name, reference, current))}
    if not columns:  # Evidently refuses a column one side lacks; here it is listed, not tested
        skipped.update({name: "not in the reference" for name in current.columns if name not in reference.columns})
    tested = [name for name in names if name not in skipped]

    def test(name: str) -> ColumnDrift | str:
        try:
            return column_drift(name, reference.columns[name], current.columns[name], options)
        except _NotTested as error:
            return str(error)

    # columns side by side: the statistics' NumPy kernels release the GIL
    workers = workers or min(4, os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = dict(zip(tested, pool.map(test, tested), strict=True))
    else:
        outcomes = {name: test(name) for name in tested}
    results = {name: outcome for name, outcome in outcomes.items() if isinstance(outcome, ColumnDrift)}
    skipped.update({name: outcome for name, outcome in outcomes.items() if isinstance(outcome, str)})
    for name, data_type in {**reference.skipped, **current.skipped}.items():
        if not columns or name in columns:
            skipped.setdefault(name, f"not a numeric or categorical column ({data_type})")
    drifted = sum(result.drifted for result in results.values())
    share = drifted / len(results) if results else 0.0
    return DriftReport(
        dataset_drift=bool(results) and share >= options.drift_share,
        drift_share=share,
        drift_share_threshold=options.drift_share,
        columns=results,
        skipped=skipped,
    )


class _NotTested(Exception):
    pass


def column_drift(name: str, reference, current, options: DriftOptions) -> ColumnDrift:
    """One column's test, from its two profiles."""
    column_type = _column_type(name, reference, options)
    if isinstance(reference, CategoricalProfile) != isinstance(current, CategoricalProfile):
        raise ValueError(f"{name}: numeric on one side and categorical on the other.")
    if not reference.n or not current.n:
        raise _NotTested(f"no values in the {'reference' if not reference.n else 'current data'}")
    if column_type == NUMERICAL:
        ref, cur = NumericSide(reference), NumericSide(current)
        n_values = _union_count(ref, cur)
    else:
        try:
            ref, cur = CategoricalSide.of(reference), CategoricalSide.of(current)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
        n_values = len(ref.counts.keys() | cur.counts.keys()) if ref.exact and cur.exact else None
    chosen = options.method_for(name, column_type)
    method = method_named(chosen, column_type) if chosen else default_method(column_type, reference.n, n_values)
    threshold = options.threshold_for(name, column_type)
    threshold = method.threshold if threshold is None else threshold
    compute = method.numeric if isinstance(ref, NumericSide) else method.categorical
    statistic, p_value, exact = compute(ref, cur)
    new = _new_categories(ref, cur)
    missing_ref, missing_cur = reference.missing / reference.count, current.missing / current.count
    effect = [_effect(ref, cur, new), missing_effect(missing_ref, missing_cur)]
    sketched = [side.rank_error for side in (ref, cur) if isinstance(side, NumericSide) and not side.exact]
    return ColumnDrift(
        column=name,
        column_type=column_type,
        method=method.name,
        statistic=statistic,
        threshold=threshold,
        drifted=bool(method.drifted(statistic, p_value, threshold)),
        p_value=p_value,
        effect="; ".join(part for part in effect if part),
        n_reference=reference.n,
        n_current=current.n,
        missing_share=missing_cur,
        missing_share_reference=missing_ref,
        new_categories=new,
        exact=exact,
        rank_error=max(sketched) if sketched else None,
    )


def _column_type(name: str, profile, options: DriftOptions) -> str:
    chosen = options.columns.get(name, ColumnOptions()).type
    if chosen:
        if chosen not in (NUMERICAL, CATEGORICAL):
            raise ValueError(f"{name}: a column's type is {NUMERICAL} or {CATEGORICAL}, not {chosen!r}.")
        if chosen == NUMERICAL and isinstance(profile, CategoricalProfile):
            raise ValueError(f"{name}: a column of categories cannot be tested as numerical.")
        return chosen
    if isinstance(profile, CategoricalProfile):
        return CATEGORICAL
    # Evidently's inference: integers with at most 10 distinct values are categories. Read
    # from the reference (Evidently reads the current data's), so that a monitor's column
    # keeps one type, and one method, from window to window.
    few = profile.distinct is not None and profile.distinct[0].size <= INTEGER_CATEGORIES
    return CATEGORICAL if profile.integer and profile.count and few else NUMERICAL


def _union_count(reference: NumericSide, current: NumericSide) -> int | None:
    if reference.nunique is None or current.nunique is None:
        return None
    return int(np.union1d(reference.profile.distinct[0], current.profile.distinct[0]).size)


def _new_categories(reference, current) -> list:
    if not isinstance(reference, CategoricalSide):
        return []
    return [key for key in current.counts if key not in reference.counts and key is not OTHER]


def _effect(reference, current, new: list) -> str:
    if isinstance(reference, NumericSide):
        return numeric_effect(reference, current)
    return categorical_effect(reference, current, new)


def _missing_reason(name: str, reference: DatasetProfile, current: DatasetProfile) -> str | None:
    if name not in reference.columns and name not in reference.skipped:
        return "not in the reference"
    if name not in current.columns and name not in current.skipped:
        return "not in the current data"
    if name in reference.skipped or name in current.skipped:
        return f"not a numeric or categorical column ({reference.skipped.get(name) or current.skipped.get(name)})"
    return None


def _profile(data) -> DatasetProfile:
    if isinstance(data, DatasetProfile):
        return data
    if isinstance(data, NumericProfile | CategoricalProfile):
        raise TypeError("drift_report compares datasets: pass a DatasetProfile, not a column's profile.")
    return profile_frame(data, exact_bound=None)


def _options(options, columns) -> DriftOptions:
    if options is None:
        options = DriftOptions()
    elif isinstance(options, Mapping):
        options = DriftOptions(**options)
    per_column = dict(options.columns)
    if isinstance(columns, Mapping):
        for name, value in columns.items():
            per_column[name] = value if isinstance(value, ColumnOptions) else ColumnOptions(**(value or {}))
    elif columns is not None and (isinstance(columns, str) or not isinstance(columns, Sequence)):
        raise TypeError("columns: a list of names or a mapping of names to their options.")
    per_column = {
        name: value if isinstance(value, ColumnOptions) else ColumnOptions(**value)
        for name, value in per_column.items()
    }
    return DriftOptions(**{**options.__dict__, "columns": per_column})


def _first(*values):
    return next((value for value in values if value is not None), None)


__all__ = ["ColumnDrift", "ColumnOptions", "DriftOptions", "DriftReport", "Method", "column_drift", "drift_report"]
