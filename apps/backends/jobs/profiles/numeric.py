"""The profile of a numeric column: what a drift test needs of it, small enough to
store and merge, whatever the number of rows.

* ``count`` rows and ``missing`` among them (null, NaN and ±inf: Evidently drops all
  three before testing, so they are missing to the tests too);
* ``min`` / ``max`` / ``mean`` / ``m2`` of the finite values (``m2``: the sum of squared
  deviations, so ``std = sqrt(m2 / n)``), merged with Chan et al.'s pairwise formula;
* ``sample``: every finite value while there are at most ``exact_bound`` of them. Then
  every statistic is exact: the same numbers as Evidently on the raw data. Sorted when
  a statistic first needs it (``sorted_sample``): a merge only concatenates, and a column
  tested by its value counts is never sorted;
* ``sketch``: beyond the bound, an Apache DataSketches KLL quantile sketch of the
  values (``KLL_K`` below), and the profile is *sketch-based*: statistics come from the
  sketch's weighted items with its normalized rank error stated;
* ``distinct``: the exact count of each distinct value while there are at most
  ``DISTINCT_CAP`` of them (few-valued columns: method choice, value-count binning and
  integer categories stay exact at any size).

Pure NumPy / pyarrow / datasketches, no Django: a job on a cluster imports it as is
(absolute imports only, as ``apps.backends.jobs.job_code`` requires of a bundle).
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import kll_doubles_sketch

# Exact statistics up to this many values per column and window: 2 MB of float64 a
# column, and Evidently's own numbers on windows up to 250k rows (its users' typical
# batch); beyond it a profile is sketch-based and stays a few tens of kB.
EXACT_BOUND = 250_000
# KLL's k: a normalized rank error of 0.28% (single-sided, 99% confidence;
# kll_doubles_sketch.get_normalized_rank_error(1000, False)) for ~24 kB a column.
KLL_K = 1_000
# Distinct values counted exactly up to this many; a column with more is continuous
# for every decision that needs the count (Evidently's thresholds are 5, 10 and 20).
DISTINCT_CAP = 1_000
# A batch whose first values already hold more distinct values than the cap is not
# counted at all: a continuous column costs one small hash per batch, not a full one.
_DISTINCT_PROBE = 4 * DISTINCT_CAP


def rank_error(k: int) -> float:
    """The sketch's normalized rank error for ``k``: any CDF it answers is within this of
    the truth (single-sided, 99% confidence; DataSketches' empirical constants)."""
    return float(kll_doubles_sketch.get_normalized_rank_error(k, False))


@dataclass
class NumericProfile:
    count: int = 0
    missing: int = 0
    # Every value came integer-typed and none was missing: pandas keeps such a column
    # int64 (Evidently then bins it as integers, and infers it categorical under 11 values).
    integer: bool = True
    min: float = math.inf
    max: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0
    sample: np.ndarray | None = field(default_factory=lambda: np.empty(0))
    sample_sorted: bool = True
    sketch: kll_doubles_sketch | None = None
    distinct: tuple[np.ndarray, np.ndarray] | None = field(default_factory=lambda: (np.empty(0), np.empty(0, np.int64)))
    exact_bound: int | None = EXACT_BOUND
    k: int = KLL_K
    # sorting the sample in place: two reports reading one profile from two threads take turns
    _sorting: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    kind = "numeric"

    @property
    def n(self) -> int:
        """Finite values: what the tests compare."""
        return self.count - self.missing

    @property
    def exact(self) -> bool:
        return self.sample is not None

    @property
    def std(self) -> float:
        """Population standard deviation (ddof 0, as Evidently's ``np.std``)."""
        return math.sqrt(self.m2 / self.n) if self.n else math.nan

    def sorted_sample(self) -> np.ndarray:
        """The exact sample, sorted (once; kept sorted)."""
        with self._sorting:
            if self.sample_sorted:
                return self.sample
            self.sample = sort_values(self.sample)
            self.sample_sorted = True
            return self.sample

    @property
    def rank_error(self) -> float:
        return 0.0 if self.exact else rank_error(self.k)

    def kll(self) -> kll_doubles_sketch:
        """The values as a KLL sketch: the stored one, or one built from the exact sample
        (an exact profile builds it only when merged with a sketch-based one)."""
        if self.sketch is not None:
            return self.sketch
        sketch = kll_doubles_sketch(self.k)
        if self.sample is not None and self.sample.size:
            sketch.update(_writable(self.sample))
        return sketch


def numeric_merge(a: NumericProfile, b: NumericProfile) -> NumericProfile:
    """``a`` and ``b`` as one column: exact for counts, extremes and moments (up to float
    rounding), and for the sample while both are exact and together within the bound."""
    n_a, n_b = a.n, b.n
    n = n_a + n_b
    mean, m2 = _chan(n_a, a.mean, a.m2, n_b, b.mean, b.m2)
    bound = _tighter(a.exact_bound, b.exact_bound)
    sample = sketch = None
    if a.exact and b.exact and (bound is None or n <= bound):
        sample = np.concatenate([a.sample, b.sample])
    else:
        sketch = copy.copy(a.kll())
        sketch.merge(b.kll())
    return NumericProfile(
        count=a.count + b.count,
        missing=a.missing + b.missing,
        integer=a.integer and b.integer,
        min=min(a.min, b.min),
        max=max(a.max, b.max),
        mean=mean,
        m2=m2,
        sample=sample,
        sample_sorted=sample is not None and not sample.size,
        sketch=sketch,
        distinct=_merge_distinct(a.distinct, b.distinct),
        exact_bound=bound,
        k=min(a.k, b.k),
    )


class NumericBuilder:
    """Accumulates a column batch by batch into a ``NumericProfile``, in memory bounded
    by ``exact_bound`` values (the pending exact sample) plus one sketch."""

    def __init__(self, *, exact_bound: int | None = EXACT_BOUND, k: int = KLL_K):
        self.exact_bound, self.k = exact_bound, k
        self.count = self.missing = self.n = 0
        self.integer = True
        self.min, self.max, self.mean, self.m2 = math.inf, -math.inf, 0.0, 0.0
        self.chunks: list[np.ndarray] | None = []
        self.sketch: kll_doubles_sketch | None = None
        self.distinct: tuple[np.ndarray, np.ndarray] | None = (np.empty(0), np.empty(0, np.int64))

    def add(self, array: pa.Array | pa.ChunkedArray) -> None:
        raw = array.to_numpy(zero_copy_only=False) if isinstance(array, pa.Array | pa.ChunkedArray) else array
        integer = np.issubdtype(raw.dtype, np.integer) and array.null_count == 0
        values = raw.astype(np.float64, copy=False)
        finite = np.isfinite(values)
        if not finite.all():
            values = values[finite]
        self.count += len(raw)
        self.missing += len(raw) - values.size
        self.integer = self.integer and integer
        if not values.size:
            return
        batch_mean = float(values.mean())
        deviations = np.subtract(values, batch_mean, out=_scratch(values.size))
        batch_m2 = float(np.square(deviations, out=deviations).sum())  # in place; and no BLAS (its threads spin)
        self.mean, self.m2 = _chan(self.n, self.mean, self.m2, values.size, batch_mean, batch_m2)
        self.n += values.size
        self.min, self.max = min(self.min, float(values.min())), max(self.max, float(values.max()))
        if self.distinct is not None:
            self.distinct = _merge_distinct(self.distinct, _distinct_of(values))
        if self.chunks is not None and (self.exact_bound is None or self.n <= self.exact_bound):
            # may be a view of the Arrow batch: kept at most until the bound, copied once by the sort
            self.chunks.append(values)
            return
        if self.sketch is None:
            self.sketch = kll_doubles_sketch(self.k)
            for chunk in self.chunks or ():
                self.sketch.update(_writable(chunk))
            self.chunks = None
        self.sketch.update(_writable(values))

    def finish(self) -> NumericProfile:
        sample = None
        if self.chunks is not None:  # one chunk: kept as it is, a view of its batch's memory
            sample = (
                np.concatenate(self.chunks) if len(self.chunks) > 1 else self.chunks[0] if self.chunks else np.empty(0)
            )
        return NumericProfile(
            count=self.count,
            missing=self.missing,
            integer=self.integer,
            min=self.min,
            max=self.max,
            mean=self.mean,
            m2=self.m2,
            sample=sample,
            sample_sorted=sample is not None and not sample.size,
            sketch=self.sketch,
            distinct=self.distinct,
            exact_bound=self.exact_bound,
            k=self.k,
        )


def sort_values(values: np.ndarray) -> np.ndarray:
    """``values`` (finite) sorted by ``np.sort``: in place where the array is its own (a new
    array of a column's size costs its page faults again), into a copy for a read-only view
    of Arrow memory. NumPy 2's sort dispatches to SIMD sorting networks (x86-simd-sort on
    AVX2 / AVX-512, Highway on Arm): ~1 ms for 200,000 doubles here, 15-25 times faster than
    the radix-presort-then-timsort this replaced."""
    if values.flags.writeable and values.base is None:
        values.sort()
        return values
    return np.sort(values)


_local = threading.local()


def _scratch(size: int) -> np.ndarray:
    """A float64 buffer of ``size`` for a batch's temporaries, one per thread, kept: a fresh
    array of a batch's size each time costs its page faults again (more than the arithmetic)."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _local.buffer = np.empty(size)
    return buffer[:size]


def _writable(values: np.ndarray) -> np.ndarray:
    """The sketch's binding takes only writable arrays; a zero-copy Arrow view is read-only."""
    return values if values.flags.writeable else values.copy()


def _chan(n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float) -> tuple[float, float]:
    """Mean and sum of squared deviations of two parts together (Chan, Golub & LeVeque):
    numerically stable at any size, unlike sums of squares."""
    n = n_a + n_b
    if not n_a or not n_b:
        return (mean_a, m2_a) if n_a else (mean_b, m2_b)
    delta = mean_b - mean_a
    return mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


def _tighter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _distinct_of(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted distinct values, their counts) of a batch, or None past the cap. Hashing
    (pyarrow) rather than sorting: linear in the batch."""
    probe = pc.count_distinct(pa.array(values[:_DISTINCT_PROBE])).as_py()
    if probe > DISTINCT_CAP:
        return None
    counted = pc.value_counts(pa.array(values))
    if len(counted) > DISTINCT_CAP:
        return None
    keys = counted.field("values").to_numpy()
    order = np.argsort(keys)
    return keys[order], counted.field("counts").to_numpy()[order]


def _merge_distinct(
    a: tuple[np.ndarray, np.ndarray] | None, b: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    if a is None or b is None:
        return None
    keys, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    if keys.size > DISTINCT_CAP:
        return None
    counts = np.bincount(inverse, weights=np.concatenate([a[1], b[1]]), minlength=keys.size)
    return keys, counts.astype(np.int64)
