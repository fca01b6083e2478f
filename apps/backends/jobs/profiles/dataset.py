"""A dataset's profile (one profile per column), how two merge, and how one is stored.

Stored form (``to_bytes`` / ``from_bytes``): ``MAGIC``, the length of a JSON header as
8 bytes little-endian, the header, then the binary parts it points to by offset and
length (exact samples as float64, distinct values, KLL sketches in DataSketches' own
serialization, readable by its Java and C++ libraries too). The header alone says what
the profile holds: rows, per column its counts, moments, categories and whether it is
exact; the numbers that only a statistic reads stay binary.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field

import numpy as np
from datasketches import kll_doubles_sketch

from apps.backends.jobs.profiles.categorical import CategoricalProfile, categorical_merge
from apps.backends.jobs.profiles.numeric import NumericProfile, numeric_merge

MAGIC = b"ATRIUM-PROFILE\n"
FORMAT_VERSION = 1
ColumnProfile = NumericProfile | CategoricalProfile


@dataclass
class DatasetProfile:
    rows: int = 0
    columns: dict[str, ColumnProfile] = field(default_factory=dict)
    # columns of types no drift test reads (timestamps, lists, binary): name -> Arrow type
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return all(column.exact for column in self.columns.values())

    def to_bytes(self) -> bytes:
        blobs: list[bytes] = []
        offset = 0

        def put(data: bytes) -> list[int]:
            nonlocal offset
            blobs.append(data)
            offset += len(data)
            return [offset - len(data), len(data)]

        columns = {name: _column_state(column, put) for name, column in self.columns.items()}
        header = json.dumps(
            {"version": FORMAT_VERSION, "rows": self.rows, "columns": columns, "skipped": self.skipped},
            separators=(",", ":"),
        ).encode()
        return b"".join([MAGIC, struct.pack("<Q", len(header)), header, *blobs])

    @classmethod
    def from_bytes(cls, data: bytes) -> DatasetProfile:
        if not data.startswith(MAGIC):
            raise ValueError("Not an Atrium profile (the stored bytes do not start with its marker).")
        (length,) = struct.unpack_from("<Q", data, len(MAGIC))
        start = len(MAGIC) + 8
        header = json.loads(data[start : start + length])
        if header["version"] != FORMAT_VERSION:
            raise ValueError(f"Profile format {header['version']} is not one this version reads ({FORMAT_VERSION}).")
        body = memoryview(data)[start + length :]

        def get(span: list[int]) -> bytes:
            return bytes(body[span[0] : span[0] + span[1]])

        columns = {name: _column_from_state(state, get) for name, state in header["columns"].items()}
        return cls(rows=header["rows"], columns=columns, skipped=header.get("skipped", {}))


def profile_merge(a, b):
    """Two profiles of the same data's parts as one: datasets column by column, or two
    column profiles. A column one side lacks counts as missing on that side's rows."""
    if isinstance(a, DatasetProfile) and isinstance(b, DatasetProfile):
        columns = {}
        for name in a.columns.keys() | b.columns.keys():
            left = a.columns.get(name) or _all_missing(b.columns[name], a.rows)
            right = b.columns.get(name) or _all_missing(a.columns[name], b.rows)
            columns[name] = profile_merge(left, right)
        ordered = {name: columns[name] for name in [*a.columns, *(n for n in b.columns if n not in a.columns)]}
        return DatasetProfile(rows=a.rows + b.rows, columns=ordered, skipped={**a.skipped, **b.skipped})
    if isinstance(a, NumericProfile) and isinstance(b, NumericProfile):
        return numeric_merge(a, b)
    if isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile):
        return categorical_merge(a, b)
    raise ValueError(f"Cannot merge a {_kind(a)} profile with a {_kind(b)} one.")


def _kind(profile) -> str:
    return getattr(profile, "kind", type(profile).__name__)


def _all_missing(like: ColumnProfile, rows: int) -> ColumnProfile:
    if isinstance(like, NumericProfile):
        return NumericProfile(count=rows, missing=rows, exact_bound=like.exact_bound, k=like.k)
    return CategoricalProfile(count=rows, missing=rows, cap=like.cap)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _column_state(column: ColumnProfile, put) -> dict:
    if isinstance(column, CategoricalProfile):
        return {
            "kind": "categorical",
            "count": column.count,
            "missing": column.missing,
            "other": column.other,
            "cap": column.cap,
            "categories": list(column.counts),
            "counts": list(column.counts.values()),
        }
    if column.sample is not None:
        column.sorted_sample()  # stored sorted: a stored profile is read by many reports, sorted once
    distinct = None
    if column.distinct is not None:
        keys, counts = column.distinct
        distinct = {"values": put(keys.astype("<f8").tobytes()), "counts": put(counts.astype("<i8").tobytes())}
    return {
        "kind": "numeric",
        "count": column.count,
        "missing": column.missing,
        "integer": column.integer,
        "min": _finite_or_none(column.min),
        "max": _finite_or_none(column.max),
        "mean": column.mean,
        "m2": column.m2,
        "exact_bound": column.exact_bound,
        "k": column.k,
        "sample": put(column.sample.astype("<f8").tobytes()) if column.sample is not None else None,
        "sample_sorted": column.sample_sorted,
        "sketch": put(column.sketch.serialize()) if column.sample is None else None,
        "distinct": distinct,
    }


def _column_from_state(state: dict, get) -> ColumnProfile:
    if state["kind"] == "categorical":
        return CategoricalProfile(
            count=state["count"],
            missing=state["missing"],
            counts=dict(zip(state["categories"], state["counts"], strict=True)),
            other=state["other"],
            cap=state["cap"],
        )
    distinct = None
    if state["distinct"] is not None:
        distinct = (
            np.frombuffer(get(state["distinct"]["values"]), "<f8").astype(np.float64),
            np.frombuffer(get(state["distinct"]["counts"]), "<i8").astype(np.int64),
        )
    return NumericProfile(
        count=state["count"],
        missing=state["missing"],
        integer=state["integer"],
        min=math.inf if state["min"] is None else state["min"],
        max=-math.inf if state["max"] is None else state["max"],
        mean=state["mean"],
        m2=state["m2"],
        sample=np.frombuffer(get(state["sample"]), "<f8").astype(np.float64) if state["sample"] else None,
        sample_sorted=state["sample_sorted"],
        sketch=kll_doubles_sketch.deserialize(get(state["sketch"])) if state["sketch"] else None,
        distinct=distinct,
        exact_bound=state["exact_bound"],
        k=state["k"],
    )
