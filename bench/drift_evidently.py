"""Evidently's side of bench/drift.py, run by the Python of ``bench/.venv-evidently``
(Evidently 0.7.23 and pandas<3 live there, never in Atrium's environment).

    bench/.venv-evidently/bin/python bench/drift_evidently.py REF.parquet CUR.parquet OUT.json \
        [--types TYPES.json] [--methods METHODS.json]

Reads the same Parquet files as Atrium's engine, runs ``Report([DataDriftPreset()])``
and writes per column: method, statistic, threshold, drifted; the dataset verdict and
share; and the seconds spent (reading, and the report alone). ``--types`` gives the
numerical / categorical column lists (Atrium's inference), so both sides test the same
columns the same way; ``--methods`` maps columns to a stattest name (the overrides pass).
Imports nothing of Atrium: that environment does not have its dependencies.
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

# Evidently's display names -> its stattest names (Atrium's method names)
NAMES = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
    "Kullback-Leibler divergence": "kl_div",
    "Hellinger distance": "hellinger",
    "Anderson-Darling": "anderson",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("out")
    parser.add_argument("--types")
    parser.add_argument("--methods")
    args = parser.parse_args()
    types = json.loads(Path(args.types).read_text()) if args.types else None
    methods = json.loads(Path(args.methods).read_text()) if args.methods else None

    started, cpu = time.perf_counter(), time.process_time()
    reference = pd.read_parquet(args.reference)
    current = pd.read_parquet(args.current)
    read_seconds, read_cpu = time.perf_counter() - started, time.process_time() - cpu

    definition = DataDefinition(**types) if types else DataDefinition()
    started, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        # anderson_ksamp's "p-value capped" and division warnings on new categories: Evidently's, not ours
        warnings.simplefilter("ignore")
        report = Report([DataDriftPreset(per_column_method=methods)], include_tests=True)
        snapshot = report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        result = snapshot.dict()
    report_seconds, report_cpu = time.perf_counter() - started, time.process_time() - cpu

    columns, dataset = {}, {"dataset_drift": None}
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {
                "method": NAMES.get(config["method"], config["method"]),
                "statistic": float(metric["value"]),
                "threshold": float(config["threshold"]),
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            dataset = {"drifted_count": metric["value"]["count"], "drift_share": metric["value"]["share"]}
    # The verdicts as Evidently states them: its tests (a failed test is drift)
    for test in result["tests"]:
        name = test["name"]
        if name.startswith("Value Drift for column "):
            columns[name.removeprefix("Value Drift for column ")]["drifted"] = test["status"] == "FAIL"
        elif name.startswith("Share of Drifted Columns"):
            dataset["dataset_drift"] = test["status"] == "FAIL"
    with open(args.out, "w") as out:
        json.dump(
            {
                "columns": columns,
                "dataset": dataset,
                "read_seconds": read_seconds,
                "report_seconds": report_seconds,
                "read_cpu": read_cpu,
                "report_cpu": report_cpu,
            },
            out,
        )


if __name__ == "__main__":
    main()
