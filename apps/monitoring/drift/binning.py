"""Shares per bin or category, as Evidently's ``get_binned_data`` makes them for its
Jensen-Shannon, PSI and KL tests (``stattests/utils.py``), and as its Hellinger test
bins numeric columns.

* A numeric column whose reference has more than 20 distinct values: Sturges bins
  (``np.histogram_bin_edges(..., "sturges")``) over reference and current together;
  the edges need only the pooled min, max and size (and whether both sides are
  integer-typed), so a profile gives them exactly.
* Otherwise (few values, or a categorical column): one share per value seen on either side.
* PSI and KL then replace zero shares: by the smallest non-zero share / 10**6 when that is
  at most 0.0001, else by 0.0001, each side on its own (Evidently's ``feel_zeroes``).
"""

from __future__ import annotations

import numpy as np

from apps.monitoring.drift.sides import OTHER, CategoricalSide, NumericSide, aligned_counts

# Evidently bins a numeric column when its reference has more distinct values than this
BIN_ABOVE_DISTINCT = 20


def sturges_edges(lo: float, hi: float, size: int, integer: bool) -> np.ndarray:
    """``np.histogram_bin_edges(a, "sturges")`` for an array ``a`` of ``size`` values
    from ``lo`` to ``hi`` (integer-typed or not), step by step as NumPy 2.4 makes them."""
    dtype = np.int64 if integer else np.float64
    lo, hi = dtype(lo), dtype(hi)
    first, last = lo, hi
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = _unsigned_subtract(hi, lo) / (np.log2(size) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        bins = int(np.ceil(_unsigned_subtract(last, first) / width))
    else:
        bins = 1
    bin_type = np.result_type(first, last, np.dtype(dtype))
    if np.issubdtype(bin_type, np.integer):
        bin_type = np.result_type(bin_type, float)
    return np.linspace(first, last, bins + 1, endpoint=True, dtype=bin_type)


def _unsigned_subtract(a, b):
    """NumPy's: the difference of two integers as unsigned (no overflow), else plain."""
    dt = np.result_type(a, b)
    if dt == np.int64:
        return np.subtract(np.asarray(a, dtype=dt), np.asarray(b, dtype=dt), casting="unsafe", dtype=np.uint64)
    return np.subtract(a, b, dtype=dt)


def fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's epsilon for zero shares (PSI and KL would divide by them)."""
    nonzero = shares[shares != 0]
    if not nonzero.size or nonzero.size == shares.size:
        return shares
    smallest = nonzero.min()
    return np.where(shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001, shares)


class Binned:
    """Aligned shares of both sides, with what the bins are (edges or categories) and
    whether they are exact."""

    def __init__(self, reference: np.ndarray, current: np.ndarray, *, edges=None, categories=None, exact=True):
        self.reference, self.current = reference, current
        self.edges, self.categories, self.exact = edges, categories, exact

    def filled(self) -> Binned:
        return Binned(
            fill_zeroes(self.reference),
            fill_zeroes(self.current),
            edges=self.edges,
            categories=self.categories,
            exact=self.exact,
        )


def binned_categorical(reference: CategoricalSide, current: CategoricalSide) -> Binned:
    keys, ref, cur = aligned_counts(reference, current)
    return Binned(ref / reference.n, cur / current.n, categories=keys, exact=reference.exact and current.exact)


def binned_numeric(reference: NumericSide, current: NumericSide) -> Binned:
    """Sturges bins past 20 reference values, else one share per distinct value."""
    nunique = reference.nunique
    if nunique is None or nunique > BIN_ABOVE_DISTINCT:
        edges = sturges_edges(
            min(reference.profile.min, current.profile.min),
            max(reference.profile.max, current.profile.max),
            reference.n + current.n,
            reference.profile.integer and current.profile.integer,
        )
        ref = reference.empirical.bin_counts(edges) / reference.empirical.total
        cur = current.empirical.bin_counts(edges) / current.empirical.total
        return Binned(ref, cur, edges=edges, exact=reference.exact and current.exact)
    keys, ref_counts = reference.value_counts
    counted = current.value_counts
    if counted is not None:
        return binned_categorical(_as_categories(reference), _as_categories(current))
    # A sketch of many current values against a few-valued reference: the current mass
    # at the reference's values (from the sketch), the rest as one bucket of new values.
    at_keys = current.empirical.point_counts(keys)
    cur = np.append(at_keys, current.empirical.total - at_keys.sum()) / current.empirical.total
    ref = np.append(ref_counts, 0) / reference.n
    return Binned(ref, cur, categories=[*keys.tolist(), OTHER], exact=False)


def hellinger_numeric(reference: NumericSide, current: NumericSide) -> Binned:
    """Evidently's Hellinger bins for a numeric column: Sturges edges over the *distinct*
    values of both sides, densities per bin times the bin width (so that sum sqrt(p q)
    is its sum of sqrt(density_ref * density_cur) * width)."""
    keys_ref, keys_cur = reference.value_counts, current.value_counts
    exact = reference.exact and current.exact
    if keys_ref is not None and keys_cur is not None:
        distinct = np.union1d(keys_ref[0], keys_cur[0]).size
    else:  # a sketch of many values: as if every value were distinct (continuous data)
        distinct, exact = reference.n + current.n, False
    edges = sturges_edges(
        min(reference.profile.min, current.profile.min),
        max(reference.profile.max, current.profile.max),
        distinct,
        reference.profile.integer and current.profile.integer,
    )
    width = (edges.max() - edges.min()) / (len(edges) - 1)
    widths = np.diff(edges)
    shares = []
    for side in (reference, current):
        counts = side.empirical.bin_counts(edges)
        shares.append(counts / widths / counts.sum() * width)
    return Binned(shares[0], shares[1], edges=edges, exact=exact)


def _as_categories(side: NumericSide) -> CategoricalSide:
    keys, counts = side.value_counts
    return CategoricalSide(dict(zip(keys.tolist(), counts.tolist(), strict=True)), 0, side.n)
