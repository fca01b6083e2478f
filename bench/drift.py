"""Atrium's drift engine against Evidently 0.7.23's DataDriftPreset, in the same run.

    .venv/bin/python bench/drift.py [--sizes 1000 50000 200000] [--big 10000000] [--no-big] [--data var/bench/drift]

For each size it writes a reference/current pair of 25 columns (``drift_data.py``: 9 of
them shifted) to Parquet, then times

* Atrium: ``profile_parquet`` of both files and ``drift_report`` (median of 5 runs, in
  this process after a warm-up; two threads on this 2-core machine); the engine alone
  (``profile_frame`` of both tables already read, and the report); and the current file
  against a stored reference profile (a monitor's case: the reference is profiled once);
* Evidently: ``pd.read_parquet`` of both and ``Report([DataDriftPreset()]).run`` (one
  run; the engine alone: the report from the DataFrames), in ``bench/.venv-evidently``
  (made here if missing: python3 -m venv, then ``pip install evidently==0.7.23
  "pandas<3"``), by ``drift_evidently.py``;

and prints the time ratios (wall clock; and CPU time, steadier when other work shares
the machine, and giving Atrium no credit for its second thread), how many per-column
verdicts agree, and the largest difference of the compared number (the p-value of a
test, the statistic of a distance). Evidently is given Atrium's column types, so both test the same columns
the same way. An overrides pass at 50,000 rows runs every other method both have
(PSI, KL, Hellinger, Anderson-Darling, KS, chi-squared, Z) on chosen columns.

Then ``--big`` rows (10 million) of both files: Atrium alone, in a child process, its
wall time and peak RSS (the child's VmHWM). Evidently is not run there:
it holds every row in pandas (issue 12 cites it running out of memory at 10M).

Not a test: it asserts nothing. The machine may be shared: other work running at the
same time slows both sides, not always alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT
from drift_data import SHIFTED, write_pair

EVIDENTLY_VENV = ROOT / "bench" / ".venv-evidently"
EVIDENTLY = "evidently==0.7.23"
STRINGS = [  # read dictionary-encoded, as profile_parquet reads them
    "cat_balanced",
    "cat_balanced_shift",
    "cat_skewed",
    "cat_skewed_shift",
    "cat_highcard",
    "cat_highcard_shift",
    "bin_flag",
    "bin_flag_shift",
    "cat_missing",
]
OVERRIDES = {
    "num_normal_shift": "psi",
    "num_lognormal": "psi",
    "num_bimodal_shift": "kl_div",
    "num_exponential": "kl_div",
    "num_normal_wide": "hellinger",
    "num_student_t": "hellinger",
    "num_small_shift": "anderson",
    "num_uniform": "anderson",
    "int_poisson": "ks",
    "num_missing": "ks",
    "cat_skewed_shift": "psi",
    "cat_balanced": "kl_div",
    "cat_highcard_shift": "hellinger",
    "cat_balanced_shift": "chisquare",
    "bin_flag_shift": "z",
    "bin_flag": "z",
}


def evidently_python() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {EVIDENTLY_VENV} with {EVIDENTLY} ...", flush=True)
        subprocess.run(["python3", "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, EVIDENTLY, "pandas<3"], check=True)
    return python


def run_atrium(reference: Path, current: Path, methods: dict | None = None, runs: int = 5) -> tuple:
    """The report and medians of seconds: from the files to the report (wall and CPU), the
    engine alone on tables in memory (Evidently's report is timed from DataFrames), and
    from a stored reference profile (bytes, read back) and the current file: a monitor's
    case, where the reference is profiled once."""
    import pyarrow.parquet as pq

    from apps.backends.jobs.profiles import DatasetProfile, profile_frame, profile_parquet
    from apps.monitoring.drift import drift_report

    options = {"columns": {name: {"method": method} for name, method in (methods or {}).items()}}
    stored_reference = profile_parquet(reference).to_bytes()
    tables = [pq.read_table(path, read_dictionary=STRINGS) for path in (reference, current)]
    times = {"files": [], "cpu": [], "engine": [], "stored": []}
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        report = drift_report(profile_parquet(reference), profile_parquet(current), options=options)
        times["files"].append(time.perf_counter() - started)
        times["cpu"].append(time.process_time() - cpu_started)
        started = time.perf_counter()
        drift_report(profile_frame(tables[0]), profile_frame(tables[1]), options=options)
        times["engine"].append(time.perf_counter() - started)
        started = time.perf_counter()
        drift_report(DatasetProfile.from_bytes(stored_reference), profile_parquet(current), options=options)
        times["stored"].append(time.perf_counter() - started)
    return report, {name: statistics.median(values) for name, values in times.items()}


def run_evidently(python: Path, reference: Path, current: Path, types: dict, methods: dict | None = None) -> dict:
    folder = reference.parent
    (folder / "types.json").write_text(json.dumps(types))
    command = [str(python), str(ROOT / "bench" / "drift_evidently.py"), str(reference), str(current)]
    command += [str(folder / "evidently.json"), "--types", str(folder / "types.json")]
    if methods:
        (folder / "methods.json").write_text(json.dumps(methods))
        command += ["--methods", str(folder / "methods.json")]
    subprocess.run(command, check=True)
    return json.loads((folder / "evidently.json").read_text())


def compare(report, evidently: dict) -> tuple[int, int, float, list[str]]:
    """(verdicts agreeing, columns, largest difference, notes on each disagreement)."""
    agree, worst, notes = 0, 0.0, []
    for name, ours in report.columns.items():
        theirs = evidently["columns"][name]
        score = ours.p_value if ours.p_value is not None else ours.statistic
        difference = abs(score - theirs["statistic"])
        worst = max(worst, difference)
        same = ours.drifted == theirs["drifted"] and ours.method == theirs["method"]
        agree += same
        if not same or difference > 1e-6:
            notes.append(
                f"    {name}: Atrium {ours.method} {score:.9g} drifted={ours.drifted}; "
                f"Evidently {theirs['method']} {theirs['statistic']:.9g} drifted={theirs['drifted']}"
            )
    return agree, len(report.columns), worst, notes


def types_of(report) -> dict:
    return {
        "numerical_columns": [n for n, c in report.columns.items() if c.column_type == "numerical"],
        "categorical_columns": [n for n, c in report.columns.items() if c.column_type == "categorical"],
    }


def compare_size(python: Path, folder: Path, rows: int) -> None:
    reference, current = write_pair(folder / str(rows), rows)
    report, ours = run_atrium(reference, current)
    evidently = run_evidently(python, reference, current, types_of(report))
    agree, total, worst, notes = compare(report, evidently)
    files = evidently["read_seconds"] + evidently["report_seconds"]
    cpu = evidently["read_cpu"] + evidently["report_cpu"]
    engine = evidently["report_seconds"]

    def vs(theirs: float, mine: float) -> str:
        return f"{theirs:6.2f} s / {mine * 1000:5.0f} ms = {theirs / mine:3.0f}x"

    print(
        f"{rows:>9,} rows | Evidently / Atrium: from the files {vs(files, ours['files'])} | "
        f"CPU {vs(cpu, ours['cpu'])} | engine alone {vs(engine, ours['engine'])} | "
        f"stored reference profile {vs(files, ours['stored'])}"
    )
    caught = sorted(report.drifted_columns) == sorted(SHIFTED)
    print(
        f"{'':>9}      | verdicts agree {agree}/{total} | largest difference {worst:.1e} | dataset drift: "
        f"Atrium {report.dataset_drift} ({report.drift_share:.2f}), "
        f"Evidently {evidently['dataset']['dataset_drift']} ({evidently['dataset']['drift_share']:.2f})"
        f" | Atrium flags exactly the shifted columns: {caught}"
    )
    for note in notes:
        print(note)


def compare_overrides(python: Path, folder: Path, rows: int) -> None:
    reference, current = write_pair(folder / str(rows), rows)
    report, *_ = run_atrium(reference, current, OVERRIDES, runs=1)
    evidently = run_evidently(python, reference, current, types_of(report), OVERRIDES)
    agree, total, worst, notes = compare(report, evidently)
    used = sorted({column.method for column in report.columns.values()})
    print(
        f"overrides at {rows:,} rows ({', '.join(used)}): "
        f"verdicts agree {agree}/{total}, largest difference {worst:.1e}"
    )
    for note in notes:
        print(note)


# Peak RSS is the child's VmHWM (its address space's high-water mark): ru_maxrss of a
# child would carry over exec this process's own peak (Evidently's results, the 200k runs).
BIG_CHILD = """
import json, re, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
started = time.perf_counter()
from apps.monitoring.drift import drift_report
from apps.backends.jobs.profiles import profile_parquet
imported = time.perf_counter()
reference = profile_parquet({reference!r})
current = profile_parquet({current!r})
profiled = time.perf_counter()
report = drift_report(reference, current)
done = time.perf_counter()
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({{"peak_mb": peak_kb / 1024, "profile": profiled - imported, "report": done - profiled,
    "total": done - imported,
    "drifted": sorted(report.drifted_columns), "exact": reference.exact,
    "rank_error": max((c.rank_error or 0) for c in report.columns.values()),
    "bytes": len(reference.to_bytes()) + len(current.to_bytes())}}))
"""


def big(folder: Path, rows: int) -> None:
    started = time.perf_counter()
    reference, current = write_pair(folder / str(rows), rows)
    print(f"{rows:,} rows x 25 columns, two Parquet files (written in {time.perf_counter() - started:.0f} s) ...")
    child = BIG_CHILD.format(root=str(ROOT), reference=str(reference), current=str(current))
    wall = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - wall
    figures = json.loads(out)
    print(
        f"{rows:>9,} rows | Atrium: both files profiled in {figures['profile']:.1f} s, "
        f"report {figures['report'] * 1000:.0f} ms, "
        f"{figures['total']:.1f} s in all ({wall:.1f} s with the interpreter and imports) | peak RSS "
        f"{figures['peak_mb']:.0f} MB"
    )
    print(
        f"{'':>9}      | sketch-based (KLL rank error {figures['rank_error']:.4f}); both profiles stored in "
        f"{figures['bytes'] / 1e6:.1f} MB; "
        f"drifted: exactly the shifted columns: {figures['drifted'] == sorted(SHIFTED)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 50_000, 200_000])
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--no-big", action="store_true")
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench" / "drift")
    args = parser.parse_args()

    python = evidently_python()
    # a warm-up: the first call of each NumPy / Arrow kernel costs more than the rest
    run_atrium(*write_pair(args.data / "1000", 1_000), runs=1)
    for rows in args.sizes:
        compare_size(python, args.data, rows)
    compare_overrides(python, args.data, 50_000)
    if not args.no_big:
        big(args.data, args.big)


if __name__ == "__main__":
    main()
