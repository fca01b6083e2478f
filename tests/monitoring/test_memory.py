"""A window of 2 million rows is profiled in bounded memory: Parquet streamed in record
batches, each numeric column an exact sample up to the bound and then a KLL sketch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
ROWS, FLOATS = 2_000_000, 12
# Python with NumPy, SciPy, pyarrow and datasketches imported is ~140 MB; the window's
# columns as Arrow arrays alone are ~215 MB. The profiler must stay far below both together.
CAP_MB = 300

# The child's own peak: VmHWM, the high-water mark of its address space. Not ru_maxrss,
# which Linux carries over exec from the forking process (here pytest, holding the window
# it just wrote).
CHILD = """
import json, re, sys
from pathlib import Path
from apps.backends.jobs.profiles import profile_parquet
profile = profile_parquet(sys.argv[1])
column = profile.columns["f0"]
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({
    "peak_mb": peak_kb / 1024,
    "rows": profile.rows, "exact": column.exact, "n": column.sketch.n if column.sketch else None,
    "cities": profile.columns["city"].counts,
}))
"""


def write_window(path: Path) -> None:
    """2M rows: one 250k-row block of random data, written 8 times (the memory at stake
    is the reader's and the profiles', whatever the values)."""
    rng = np.random.default_rng(5)
    cities = np.array(["Oslo", "Lima", "Pune", "Kyiv"])
    columns = {f"f{i}": rng.normal(i, 1, 250_000) for i in range(FLOATS)}
    columns["count"] = rng.poisson(5, 250_000)
    columns["city"] = cities[rng.integers(0, 4, 250_000)]
    block = pa.table(columns, schema=_schema())
    with pq.ParquetWriter(path, block.schema, compression="none", use_dictionary=["city"]) as writer:
        for _ in range(ROWS // block.num_rows):
            writer.write_table(block)


def _schema() -> pa.Schema:
    return pa.schema(
        [*(pa.field(f"f{i}", pa.float64()) for i in range(FLOATS)), ("count", pa.int64()), ("city", pa.string())]
    )


def test_two_million_rows_profiled_under_a_memory_cap(tmp_path):
    path = tmp_path / "window.parquet"
    write_window(path)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    print(f"peak RSS profiling {ROWS:,} rows x {FLOATS + 2} columns: {result['peak_mb']:.0f} MB")
    assert result["rows"] == ROWS and not result["exact"] and result["n"] == ROWS
    assert sum(result["cities"].values()) == ROWS
    assert result["peak_mb"] < CAP_MB
