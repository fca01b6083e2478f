"""The data of bench/drift.py: reference/current pairs of 25 columns, written to Parquet
in row groups so that 10 million rows never sit in memory at once.

Columns (``SHIFTED`` names the ones whose current distribution moves):

* numeric floats: normal, normal with a mean shift, normal with a wider spread,
  log-normal (skewed) plain and shifted, exponential, Student-t (heavy tails),
  bimodal plain and with its modes re-weighted, uniform, a normal with 5% missing
  (20% in current), a normal shifted by a hair (0.02 sigma: below every threshold);
* few-valued: integer counts 0..7 (int64: a category by Evidently's inference) plain and
  shifted, a Poisson count (int64, ~30 values: numeric), a 1..5 rating as float with gaps
  (numeric with 5 values);
* categorical strings: balanced (5 values) plain and shifted, skewed (Zipf over 12) plain and
  shifted, high-cardinality (1,000 values) plain and with new values in current, binary
  plain and shifted, and one with missing values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SHIFTED = {
    "num_normal_shift",
    "num_normal_wide",
    "num_lognormal_shift",
    "num_bimodal_shift",
    "int_few_shift",
    "cat_balanced_shift",
    "cat_skewed_shift",
    "cat_highcard_shift",
    "bin_flag_shift",
}
ROW_GROUP = 1_000_000
_BALANCED = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
_SKEWED = np.array([f"tier-{i:02d}" for i in range(12)])
_HIGHCARD = np.array([f"sku-{i:04d}" for i in range(1_300)])
_ZIPF = 1.0 / np.arange(1, 13) ** 1.2


def _bimodal(rng, n, weight):
    left = rng.random(n) < weight
    return np.where(left, rng.normal(-2.0, 0.6, n), rng.normal(3.0, 1.0, n))


def chunk(rng: np.random.Generator, n: int, current: bool) -> pa.Table:
    """``n`` rows of every column; ``current`` applies the shifts."""
    c = current
    missing = rng.random(n) < (0.20 if c else 0.05)
    rating = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=[0.1, 0.15, 0.3, 0.3, 0.15])
    rating[rng.random(n) < 0.02] = np.nan
    skew_p = _ZIPF[::-1] if c else _ZIPF
    high_n = 1_300 if c else 1_000  # current draws from 300 SKUs the reference never saw
    flag_p = 0.25 if c else 0.10
    columns = {
        "num_normal": rng.normal(0.0, 1.0, n),
        "num_normal_shift": rng.normal(0.5 if c else 0.0, 1.0, n),
        "num_normal_wide": rng.normal(10.0, 3.0 if c else 2.0, n),
        "num_lognormal": rng.lognormal(0.0, 0.8, n),
        "num_lognormal_shift": rng.lognormal(0.4 if c else 0.0, 0.8, n),
        "num_exponential": rng.exponential(5.0, n),
        "num_student_t": rng.standard_t(3, n),
        "num_bimodal": _bimodal(rng, n, 0.4),
        "num_bimodal_shift": _bimodal(rng, n, 0.6 if c else 0.4),
        "num_uniform": rng.uniform(-1.0, 1.0, n),
        "num_missing": np.where(missing, np.nan, rng.normal(100.0, 15.0, n)),
        "num_small_shift": rng.normal(0.02 if c else 0.0, 1.0, n),
        "int_few": rng.integers(0, 8, n),
        "int_few_shift": np.minimum(rng.poisson(3.0 if c else 2.0, n), 7),
        "int_poisson": rng.poisson(20.0, n),
        "num_rating": rating,
        "cat_balanced": _BALANCED[rng.integers(0, 5, n)],
        "cat_balanced_shift": _BALANCED[rng.choice(5, n, p=[0.4, 0.15, 0.15, 0.15, 0.15] if c else None)],
        "cat_skewed": _SKEWED[rng.choice(12, n, p=_ZIPF / _ZIPF.sum())],
        "cat_skewed_shift": _SKEWED[rng.choice(12, n, p=skew_p / skew_p.sum())],
        "cat_highcard": _HIGHCARD[rng.integers(0, 1_000, n)],
        "cat_highcard_shift": _HIGHCARD[rng.integers(0, high_n, n)],
        "bin_flag": np.where(rng.random(n) < 0.5, "yes", "no"),
        "bin_flag_shift": np.where(rng.random(n) < flag_p, "yes", "no"),
        "cat_missing": _BALANCED[rng.integers(0, 5, n)],
    }
    cat_missing = pa.array(columns.pop("cat_missing"), mask=rng.random(n) < 0.1)
    arrays = {name: pa.array(values) for name, values in columns.items()}
    arrays["cat_missing"] = cat_missing
    return pa.table(arrays)


def write_pair(folder: Path, rows: int, seed: int = 12) -> tuple[Path, Path]:
    """``reference.parquet`` and ``current.parquet`` of ``rows`` rows each in ``folder``
    (written once: an existing pair of the same size is reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "reference.parquet", folder / "current.parquet"
    for index, path in enumerate(paths):
        if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
            continue
        rng = np.random.default_rng([seed, rows, index])
        writer = None
        try:
            for start in range(0, rows, ROW_GROUP):
                table = chunk(rng, min(ROW_GROUP, rows - start), current=index == 1)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
    return paths
