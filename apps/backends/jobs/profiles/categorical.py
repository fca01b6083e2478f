"""The profile of a categorical column (strings, booleans, dictionary-encoded values):
the count of each category, exact and mergeable, up to ``CATEGORY_CAP`` categories.

Past the cap, the most frequent categories keep their counts and the rest are folded
into ``other`` (a count, not a category): the profile stays small for an identifier-like
column, and says it is no longer exact (``exact`` is False, the report says so too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Categories counted one by one; a column with more is an identifier or free text, and
# its drift is read from the most frequent ones plus the share of the rest.
CATEGORY_CAP = 10_000


@dataclass
class CategoricalProfile:
    count: int = 0
    missing: int = 0
    counts: dict = field(default_factory=dict)  # category -> rows, most frequent first once capped
    other: int = 0  # rows of categories beyond the cap
    cap: int = CATEGORY_CAP

    kind = "categorical"

    @property
    def n(self) -> int:
        return self.count - self.missing

    @property
    def exact(self) -> bool:
        return self.other == 0


def categorical_merge(a: CategoricalProfile, b: CategoricalProfile) -> CategoricalProfile:
    if not a.counts or not b.counts:  # one side counted nothing (a builder's start): a copy, no loop
        counts = dict(a.counts or b.counts)
    else:
        counts = dict(a.counts)
        for key, value in b.counts.items():  # a loop over categories (at most the cap), never rows
            counts[key] = counts.get(key, 0) + value
    cap = min(a.cap, b.cap)
    counts, folded = _capped(counts, cap)
    return CategoricalProfile(
        count=a.count + b.count, missing=a.missing + b.missing, counts=counts, other=a.other + b.other + folded, cap=cap
    )


class CategoricalBuilder:
    """Counts a column batch by batch. Dictionary-encoded batches that share one dictionary
    (a Parquet row group's) are counted by index in NumPy and merged into the profile once
    per dictionary, not once per batch: no Python loop over categories per batch. Only while
    that merge cannot fold (the dictionary and the categories so far fit under the cap), and
    in the order a batch-by-batch merge gives (first seen, then by index): the same profile."""

    def __init__(self, *, cap: int = CATEGORY_CAP):
        self.profile = CategoricalProfile(cap=cap)
        self._dictionary: pa.Array | None = None  # the pending dictionary, its counts by index
        self._counts = self._first = None  # and the batch each index was first seen in (-1: not yet)
        self._batches = self._rows = self._missing = 0

    def add(self, array: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(array, pa.ChunkedArray):  # chunks may carry different dictionaries
            for chunk in array.chunks:
                self.add(chunk)
            return
        cap = self.profile.cap
        if pa.types.is_dictionary(array.type) and len(array.dictionary) + len(self.profile.counts) <= cap:
            self._add_indices(array)
            return
        self._flush()
        keys, counts, folded = _value_counts(array, cap)
        batch = CategoricalProfile(
            count=len(array),
            missing=array.null_count,
            counts=dict(zip(keys, counts, strict=True)),
            other=folded,
            cap=cap,
        )
        self.profile = categorical_merge(self.profile, batch)

    def _add_indices(self, array: pa.DictionaryArray) -> None:
        dictionary = array.dictionary
        if self._dictionary is not None and not (dictionary is self._dictionary or dictionary.equals(self._dictionary)):
            self._flush()
        if self._dictionary is None:
            self._dictionary = dictionary
            self._counts = np.zeros(len(dictionary), np.int64)
            self._first = np.full(len(dictionary), -1, np.int64)
        counts = np.bincount(array.indices.drop_null().to_numpy(), minlength=len(dictionary))
        self._first[(counts > 0) & (self._first < 0)] = self._batches
        self._counts += counts
        self._batches += 1
        self._rows += len(array)
        self._missing += array.null_count

    def _flush(self) -> None:
        if self._dictionary is None:
            return
        present = np.flatnonzero(self._counts)
        order = present[np.lexsort((present, self._first[present]))]  # as batch-by-batch merges order them
        keys = self._dictionary.take(pa.array(order, pa.int64())).to_pylist()
        counts = dict(zip(keys, self._counts[order].tolist(), strict=True))
        pending = CategoricalProfile(count=self._rows, missing=self._missing, counts=counts, cap=self.profile.cap)
        self.profile = categorical_merge(self.profile, pending)
        self._dictionary = self._counts = self._first = None
        self._batches = self._rows = self._missing = 0

    def finish(self) -> CategoricalProfile:
        self._flush()
        return self.profile


def _value_counts(array: pa.Array, cap: int) -> tuple[list, list[int], int]:
    """Categories (Python values) of a batch and their counts, nulls left out, and the rows
    beyond the ``cap`` most frequent: counted in Arrow (by the dictionary's indices when the
    column is dictionary-encoded), so only categories, never rows, reach Python."""
    if pa.types.is_null(array.type):
        return [], [], 0
    if pa.types.is_dictionary(array.type):
        counts = np.bincount(array.indices.drop_null().to_numpy(), minlength=len(array.dictionary))
        present = np.flatnonzero(counts)
        values, counts = array.dictionary.take(pa.array(present)), counts[present]
    else:
        counted = pc.value_counts(array.drop_null())
        values, counts = counted.field("values"), counted.field("counts").to_numpy()
    folded = 0
    if len(counts) > cap:
        keep = np.argsort(-counts, kind="stable")[:cap]
        folded = int(counts.sum() - counts[keep].sum())
        values, counts = values.take(pa.array(keep)), counts[keep]
    return values.to_pylist(), counts.tolist(), folded


def _capped(counts: dict, cap: int) -> tuple[dict, int]:
    """The ``cap`` most frequent categories (ties by their text, so a merge is the same
    in any order) and the rows of the rest."""
    if len(counts) <= cap:
        return counts, 0
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    kept = dict(ranked[:cap])
    return kept, sum(value for _, value in ranked[cap:])
