"""One side (reference or current) of a column, as the statistics read it from a
profile: values as an ``Empirical`` sample, value counts, moments, missing share."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from apps.backends.jobs.profiles import CategoricalProfile, NumericProfile
from apps.monitoring.drift.empirical import Empirical


class _Other:
    """The bucket of categories past a profile's cap: one category to the statistics,
    shown as "(other)"."""

    def __repr__(self) -> str:
        return "(other)"


OTHER = _Other()


@dataclass(frozen=True, eq=False)
class NumericSide:
    profile: NumericProfile

    @property
    def n(self) -> int:
        return self.profile.n

    @property
    def exact(self) -> bool:
        return self.profile.exact

    @property
    def rank_error(self) -> float:
        return self.profile.rank_error

    @cached_property
    def empirical(self) -> Empirical:
        if self.profile.exact:
            return Empirical(self.profile.sorted_sample())
        return Empirical.from_sketch(self.profile.sketch, self.profile.rank_error)

    @cached_property
    def value_counts(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Every distinct value and its count, when known exactly: counted while profiling
        (up to its cap), or read off the exact sample; None for a sketch of many values."""
        if self.profile.distinct is not None:
            return self.profile.distinct
        if self.profile.exact:
            return self.empirical.distinct()
        return None

    @property
    def nunique(self) -> int | None:
        """Distinct values, or None when there are more than a profile counts (its cap is
        far above every count a decision compares with)."""
        counts = self.profile.distinct
        return None if counts is None else int(counts[0].size)


@dataclass(frozen=True, eq=False)
class CategoricalSide:
    """A categorical column, or a numeric one read as categories (its distinct values)."""

    counts: dict
    other: int
    n: int

    @classmethod
    def of(cls, profile: CategoricalProfile | NumericProfile) -> CategoricalSide:
        if isinstance(profile, CategoricalProfile):
            return cls(profile.counts, profile.other, profile.n)
        counts = NumericSide(profile).value_counts
        if counts is None:
            raise ValueError("has too many distinct values to be read as categories")
        keys = counts[0].astype(np.int64).tolist() if profile.integer else counts[0].tolist()
        return cls(dict(zip(keys, counts[1].tolist(), strict=True)), 0, profile.n)

    @property
    def exact(self) -> bool:
        return self.other == 0

    @property
    def nunique(self) -> int:
        return len(self.counts) + (1 if self.other else 0)


def aligned_counts(reference: CategoricalSide, current: CategoricalSide) -> tuple[list, np.ndarray, np.ndarray]:
    """The categories of either side, sorted (Evidently sorts them for its Z-test; the
    other statistics do not depend on the order), and each side's counts of them;
    ``OTHER`` last when either side folded categories past its cap."""
    keys = _sorted(reference.counts.keys() | current.counts.keys())
    ref = np.array([reference.counts.get(key, 0) for key in keys], dtype=np.float64)  # categories, not rows
    cur = np.array([current.counts.get(key, 0) for key in keys], dtype=np.float64)
    if reference.other or current.other:
        keys.append(OTHER)
        ref, cur = np.append(ref, reference.other), np.append(cur, current.other)
    return keys, ref, cur


def _sorted(keys) -> list:
    try:
        return sorted(keys)
    except TypeError:  # mixed types in one column: a stable order all the same
        return sorted(keys, key=lambda key: (type(key).__name__, str(key)))
