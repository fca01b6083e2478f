"""Profiles from data: a DataFrame or Arrow table in memory (``profile_frame``), or a
Parquet file streamed in record batches (``profile_parquet``), so a window of any
size is profiled in memory bounded by one batch plus the profiles themselves.

Which columns are profiled, and how, is decided by their Arrow type: integers,
floats and decimals are numeric; strings, booleans and dictionary-encoded values are
categorical; the rest (timestamps, lists, binary) is listed in ``skipped``, as
Evidently's DataDriftPreset leaves datetime columns out too.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from apps.backends.jobs.profiles.categorical import CATEGORY_CAP, CategoricalBuilder
from apps.backends.jobs.profiles.dataset import DatasetProfile
from apps.backends.jobs.profiles.numeric import EXACT_BOUND, KLL_K, NumericBuilder

# Rows per record batch: ~13 MB of 25 numeric columns at once (Arrow's peak is a few
# batches), and few enough batches that the per-batch work in Python stays small.
BATCH_ROWS = 65_536
# Parquet read through a 1 MB buffer, not column chunks pre-read whole: pyarrow's default
# pre-buffering held ~250 MB more for a 2M-row window of 14 columns.
READ_BUFFER = 1 << 20


def profile_frame(
    frame,
    *,
    exact_bound: int | None = EXACT_BOUND,
    k: int = KLL_K,
    category_cap: int = CATEGORY_CAP,
    batch_rows: int = BATCH_ROWS,
    workers: int | None = None,
) -> DatasetProfile:
    """The profile of a pandas DataFrame, an Arrow table or record batch.
    ``exact_bound=None`` keeps every value (exact statistics at any size)."""
    if isinstance(frame, pa.RecordBatch):
        frame = pa.Table.from_batches([frame])
    elif not isinstance(frame, pa.Table):
        frame = pa.Table.from_pandas(frame, preserve_index=False)
    profiler = _Profiler(frame.schema, exact_bound=exact_bound, k=k, category_cap=category_cap, workers=workers)
    for batch in frame.to_batches(max_chunksize=batch_rows):
        profiler.add(batch)
    return profiler.finish()


def profile_parquet(
    path: str | Path,
    *,
    columns: list[str] | None = None,
    exact_bound: int | None = EXACT_BOUND,
    k: int = KLL_K,
    category_cap: int = CATEGORY_CAP,
    batch_rows: int = BATCH_ROWS,
    workers: int | None = None,
) -> DatasetProfile:
    """The profile of a Parquet file, read ``batch_rows`` at a time. String columns are
    read dictionary-encoded, as Parquet stores them: categories are counted by index
    and no row's text is ever materialized."""
    schema = pq.read_schema(path)
    names = columns or schema.names
    strings = [name for name in names if pa.types.is_string(schema.field(name).type)]
    strings += [name for name in names if pa.types.is_large_string(schema.field(name).type)]
    parquet = pq.ParquetFile(path, read_dictionary=strings, pre_buffer=False, buffer_size=READ_BUFFER)
    profiler = _Profiler(
        parquet.schema_arrow, names=names, exact_bound=exact_bound, k=k, category_cap=category_cap, workers=workers
    )
    # decoding in this thread: the profiler's own pool works on the columns of each batch
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=names, use_threads=False):
        profiler.add(batch)
    return profiler.finish()


def column_kind(data_type: pa.DataType) -> str | None:
    """``numeric``, ``categorical`` or None (not profiled) for an Arrow type."""
    if pa.types.is_dictionary(data_type):
        return "categorical"
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "numeric"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_boolean(data_type):
        return "categorical"
    if pa.types.is_null(data_type):
        return "categorical"  # no value at all: every row missing
    return None


class _Profiler:
    """One builder per column; each batch's columns are added in a thread pool (NumPy's
    and Arrow's kernels release the GIL, so columns proceed side by side)."""

    def __init__(self, schema: pa.Schema, *, names=None, exact_bound, k, category_cap, workers):
        self.rows = 0
        self.builders, self.skipped = {}, {}
        for name in names or schema.names:
            data_type = schema.field(name).type
            kind = column_kind(data_type)
            if kind == "numeric":
                self.builders[name] = NumericBuilder(exact_bound=exact_bound, k=k)
            elif kind == "categorical":
                self.builders[name] = CategoricalBuilder(cap=category_cap)
            else:
                self.skipped[name] = str(data_type)
        workers = workers or min(4, os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None

    def map(self, function, items) -> list:
        return list(self.pool.map(function, items) if self.pool else map(function, items))

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        columns = [(builder, _numeric_array(batch.column(name), builder)) for name, builder in self.builders.items()]
        self.map(lambda pair: pair[0].add(pair[1]), columns)

    def finish(self) -> DatasetProfile:
        try:
            profiles = self.map(lambda builder: builder.finish(), self.builders.values())
        finally:
            if self.pool:
                self.pool.shutdown()
        return DatasetProfile(
            rows=self.rows, columns=dict(zip(self.builders, profiles, strict=True)), skipped=self.skipped
        )


def _numeric_array(array: pa.Array, builder) -> pa.Array:
    """Decimals as float64 (the tests' arithmetic is in doubles anyway)."""
    if isinstance(builder, NumericBuilder) and pa.types.is_decimal(array.type):
        return array.cast(pa.float64())
    return array
