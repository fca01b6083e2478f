"""The program a Databricks job run executes on its cluster (a ``spark_python_task``).

The Databricks backend uploads it to the workspace with the code it imports
(``code_bundle`` in databricks/code_upload.py: this package's train, tune and
batch jobs and their training code), so a real workspace needs nothing
installed by hand. It is the local job run in another place: ``--mode`` train,
tune or batch picks the same work function the local backend runs, on a spec
that the backend sends as ``--spec`` JSON. ``--mode profile`` profiles a window of
an endpoint's inference table where it lives (``profile_job``: drift monitoring's
mergeable profiles, written to a volume; no MLflow).

On Databricks, MLflow tracks to the workspace (``databricks``) and registers in
Unity Catalog (``databricks-uc``), the spec's ``registered_model`` being the
three-level name; ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``, when set,
win as everywhere in MLflow (which is how it is run against a local MLflow
server here). The last line it prints is ``OUTPUTS_MARKER`` and the outputs as
JSON (model version, metrics...), which the backend reads from the run's
output; a failure exits with the reason, which Databricks shows as the run's
error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

OUTPUTS_MARKER = "ATRIUM_OUTPUTS "
MODES = ("train", "tune", "batch", "profile")


def job_spec(spec: dict, mode: str) -> dict:
    """The spec as the local job modules read it (the backend sent its ``experiment`` and
    ``data_root``), naming the model by its Unity Catalog name."""
    out = {**spec, "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI") or "databricks"}
    if mode == "batch":
        out["model"] = {**spec["model"], "name": spec["registered_model"]}
    else:
        out["model_name"] = spec["registered_model"]
    return out


def work_for(mode: str):
    if mode == "tune":
        from apps.backends.jobs.tune_job import tune

        return tune
    if mode == "batch":
        from apps.backends.jobs.batch_job import score

        return score
    from apps.backends.jobs.train_job import train

    return train


def run(mode: str, spec: dict) -> tuple[int, dict]:
    """Run the job in a scratch folder: (exit code, its last status)."""
    import mlflow

    from apps.backends.jobs.train_job import main

    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or "databricks-uc")
    with tempfile.TemporaryDirectory(prefix="atrium-job-") as folder:
        (Path(folder) / "spec.json").write_text(json.dumps(job_spec(spec, mode)))
        code = main(folder, work=work_for(mode))
        return code, json.loads((Path(folder) / "status.json").read_text())


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="train")
    parser.add_argument("--spec", required=True, help="the job's spec, as JSON")
    return parser.parse_args(argv)


def entry(argv: list[str]) -> int:
    args = parse(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the uploaded bundle holds the apps package
    if args.mode == "profile":
        from apps.backends.jobs.profile_job import profile_window

        print(OUTPUTS_MARKER + json.dumps(profile_window(json.loads(args.spec)), sort_keys=True), flush=True)
        return 0
    code, status = run(args.mode, json.loads(args.spec))
    if code:
        raise SystemExit(status.get("message") or f"The {args.mode} job failed.")
    print(OUTPUTS_MARKER + json.dumps(status.get("outputs") or {}, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(entry(sys.argv[1:]))
