"""The batch inference job: ``python -m apps.backends.jobs.batch_job JOB_DIR``.

A job like training (train_job.py: same files and cancel rules). Loads a
registered model version from MLflow, scores every row of the dataset in
chunks and writes the predictions (CSV or Parquet) below the data root. Running it again
for the same key rewrites the same file: nothing is duplicated.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from apps.backends.jobs.train_job import JobFiles, log, main
from apps.backends.jobs.training import TrainingRequest, is_file_dataset, load_dataset, resolve_data_path

CHUNK_ROWS = 10_000


OUTPUT_SUFFIXES = (".csv", ".parquet")


def output_path(spec: dict) -> Path:
    """Where the predictions go: ``output`` (a .csv or .parquet path below the
    data folder), by default ``predictions/<key>.csv`` there."""
    root = Path(spec["data_root"]).resolve()
    output = spec.get("output") or f"predictions/{spec['key']}.csv"
    if "://" in output:
        raise ValueError(f"The local backend writes predictions below its data folder, not to {output}.")
    path = (root / output).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"The output must be below the data folder ({root}).")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"The output must be a .csv or .parquet file, not {output}.")
    return path


def features(spec: dict):
    """The rows to score: a dataset's features (its target column dropped)."""
    if is_file_dataset(spec["dataset"]):
        import pandas as pd

        path = resolve_data_path(spec["dataset"], Path(spec["data_root"]))
        if not path.is_file():
            raise ValueError(f"File not found: {spec['dataset']}")
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
        return frame.drop(columns=[spec["target_column"]], errors="ignore") if spec.get("target_column") else frame
    request = TrainingRequest(
        dataset=spec["dataset"],
        algorithm="",
        task="",
        hyperparameters={},
        model_name=spec["model"]["name"],
        target_column=None,
        dataset_options=spec.get("dataset_options") or {},
    )
    X, _ = load_dataset(request, data_root=Path(spec["data_root"]))
    return X


def score(files: JobFiles) -> dict:
    import mlflow.pyfunc

    spec = files.spec()
    model_uri = f"models:/{spec['model']['name']}/{spec['model']['version']}"
    files.write_status("running", 2, "Loading the model")
    log(f"Loading {model_uri}")
    mlflow.set_tracking_uri(spec["tracking_uri"])
    model = mlflow.pyfunc.load_model(model_uri)
    files.write_status("running", 10, "Loading data")
    X = features(spec)
    if not len(X):
        raise ValueError(f"{spec['dataset']} has no rows to score.")
    log(f"Scoring {len(X)} rows of {spec['dataset']}")
    target = output_path(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with _writer(partial, parquet=target.suffix.lower() == ".parquet") as write:
        for start in range(0, len(X), CHUNK_ROWS):
            chunk = X.iloc[start : start + CHUNK_ROWS]
            write(chunk.assign(prediction=model.predict(chunk)), first=start == 0)
            done = min(start + CHUNK_ROWS, len(X))
            files.write_status("running", 10 + 85 * done / len(X), f"Scored {done} of {len(X)} rows")
    partial.replace(target)  # the file appears whole or not at all
    log(f"Wrote {len(X)} predictions to {target}")
    return {"rows": len(X), "output": str(target), "format": target.suffix.lower()[1:], "model_uri": model_uri}


@contextmanager
def _writer(path: Path, *, parquet: bool):
    """``write(frame, first=...)`` appends a chunk of predictions to ``path`` (CSV or Parquet)."""
    if not parquet:
        with open(path, "w", newline="") as handle:
            yield lambda frame, first: frame.to_csv(handle, index=False, header=first)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    holder = {}

    def write(frame, first):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if first:
            holder["writer"] = pq.ParquetWriter(path, table.schema)
        holder["writer"].write_table(table.cast(holder["writer"].schema))

    try:
        yield write
    finally:
        if "writer" in holder:
            holder["writer"].close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], work=score))
