"""A numeric column's values as the statistics read them: a sorted sample, either every
value (exact) or a sketch's weighted items (each standing for ``weight`` values).

Both answer the same questions (the CDF at points, counts in bins, quantiles), so each
statistic has one implementation; on an exact sample it reproduces SciPy's and
Evidently's numbers, on a sketch it is within the sketch's rank error of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class Empirical:
    values: np.ndarray  # sorted
    weights: np.ndarray | None = None  # None: every value once (an exact sample)
    rank_error: float = 0.0  # the CDF's normalized rank error bound (0 when exact)

    @classmethod
    def of(cls, values) -> Empirical:
        """Every value of an array (NaN left out), sorted: an exact sample."""
        values = np.asarray(values, dtype=np.float64)
        return cls(np.sort(values[~np.isnan(values)]))

    @classmethod
    def from_sketch(cls, sketch, rank_error: float) -> Empirical:
        """A KLL sketch's retained items and weights (a few thousand, not the rows)."""
        items = np.array(list(sketch), dtype=np.float64).reshape(-1, 2)
        order = np.argsort(items[:, 0], kind="stable")
        return cls(items[order, 0], items[order, 1], rank_error)

    @property
    def exact(self) -> bool:
        return self.weights is None

    @cached_property
    def total(self) -> float:
        return float(self.values.size if self.weights is None else self.weights.sum())

    @cached_property
    def cumulative(self) -> np.ndarray:
        """Weight at or below each position, with a leading 0: ``cumulative[i]`` values
        come before index ``i``."""
        if self.weights is None:
            return np.arange(self.values.size + 1, dtype=np.float64)
        return np.concatenate([[0.0], np.cumsum(self.weights)])

    def below(self, points: np.ndarray, side: str = "right") -> np.ndarray:
        """How many values are <= each point (``right``) or < it (``left``)."""
        index = np.searchsorted(self.values, points, side=side)
        return index if self.weights is None else self.cumulative[index]

    def cdf(self, points: np.ndarray) -> np.ndarray:
        return self.below(points, "right") / self.total

    def bin_counts(self, edges: np.ndarray) -> np.ndarray:
        """Values per bin as ``np.histogram`` counts them: ``[e_i, e_i+1)``, the last
        bin closed on the right."""
        ends = np.concatenate([self.below(edges[:-1], "left"), self.below(edges[-1:], "right")])
        return np.diff(ends)

    def point_counts(self, points: np.ndarray) -> np.ndarray:
        """Values equal to each point."""
        return self.below(points, "right") - self.below(points, "left")

    def distinct(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct values and their counts (weights), from the sorted values in one pass."""
        if not self.values.size:
            return self.values, np.empty(0)
        starts = np.flatnonzero(np.concatenate([[True], self.values[1:] != self.values[:-1]]))
        ends = np.concatenate([starts[1:], [self.values.size]])
        return self.values[starts], self.cumulative[ends] - self.cumulative[starts]
