"""What a Databricks job run executes: the backend uploads ``cluster_job.py``
and the code it imports to the workspace (checked against the stand-in over
real HTTP), and that program trains, registers and scores for real. No
Databricks cluster runs here, so the program is run the way a cluster runs it
(a Python process given the task's parameters, from the uploaded files alone),
with MLflow's own ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` pointing at
a real MLflow server instead of the workspace and Unity Catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from apps.backends.base import BatchSpec, JobState, Link, ModelRef
from apps.backends.databricks.code_upload import CLUSTER_JOB, code_bundle
from apps.backends.databricks.jobs import job_outputs
from apps.backends.jobs.job_code import digest
from tests.backends.databricks.test_databricks_backend import make_backend, poll_until_done, spec
from tests.conftest import wait_for_job


@pytest.fixture(scope="module")
def standin():
    from apps.backends.sandbox.databricks import DatabricksStandIn
    from tests.backends.databricks.test_databricks_backend import TOKEN

    with DatabricksStandIn(token=TOKEN) as server:
        yield server


def imports(standin) -> list[str]:
    return [path for method, path in standin.requests if path.endswith("/workspace/import")]


def test_the_first_run_uploads_the_job_code_and_later_ones_reuse_it(standin):
    folder = f"/Shared/atrium/code-{digest(code_bundle())}"
    backend = make_backend(standin.url)
    run_id = backend.submit_training(spec("atr-upload-1"))

    assert {path.removeprefix(folder + "/") for path in standin.state["files"] if path.startswith(folder)} == set(
        code_bundle()
    )
    task = standin.state["runs"][run_id]["tasks"][0]["task"]
    assert task["spark_python_task"]["python_file"] == f"/Workspace{folder}/{CLUSTER_JOB.name}"
    assert task["spark_python_task"]["parameters"][2:] == ["--mode", "train"]
    status, _logs = poll_until_done(backend, run_id)
    assert status.state is JobState.SUCCEEDED

    uploaded = len(imports(standin))
    make_backend(standin.url).submit_training(spec("atr-upload-2"))  # another worker, same code: found, not re-sent
    assert len(imports(standin)) == uploaded


def test_a_run_whose_program_is_gone_fails_with_the_workspace_reason(standin):
    backend = make_backend(standin.url)
    backend.submit_training(spec("atr-gone-1"))  # uploads, and remembers where
    entry = f"/Workspace/Shared/atrium/code-{digest(code_bundle())}/{CLUSTER_JOB.name}"
    backend.client.workspace.delete(entry)

    status, _logs = poll_until_done(backend, backend.submit_training(spec("atr-gone-2")))
    assert status.state is JobState.FAILED
    assert f"Cannot read the python file {entry}" in status.message


# --- the program itself, as a cluster runs it ----------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The uploaded files, and nothing else: the program must not need the repository."""
    folder = tmp_path_factory.mktemp("workspace-code")
    for name, content in code_bundle().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def run_on_cluster(bundle: Path, parameters: list[str], mlflow_server: str, cwd: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHON"))}
    env.update(MLFLOW_TRACKING_URI=mlflow_server, MLFLOW_REGISTRY_URI=mlflow_server)
    return subprocess.run(
        [sys.executable, "-I", str(bundle / CLUSTER_JOB.name), *parameters],  # -I: no repository on the path
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def task_parameters(standin, run_id: str) -> list[str]:
    return standin.state["runs"][run_id]["tasks"][0]["task"]["spark_python_task"]["parameters"]


def test_the_program_trains_registers_and_scores_with_what_the_backend_sends(standin, bundle, mlflow_server, tmp_path):
    from mlflow import MlflowClient

    backend = make_backend(standin.url, data_root=str(tmp_path))
    model = f"cluster-{uuid.uuid4().hex[:8]}"
    run_id = backend.submit_training(spec("atr-cluster-train", model_name=model, hyperparameters={"C": 0.5}))

    trained = run_on_cluster(bundle, task_parameters(standin, run_id), mlflow_server, tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    outputs = job_outputs(trained.stdout.splitlines())
    full_name = f"atrium.models.{model}"
    assert (outputs["model_name"], outputs["model_version"]) == (full_name, "1")
    assert outputs["metrics"]["accuracy"] > 0.8
    version = MlflowClient(mlflow_server).get_model_version(full_name, "1")
    assert MlflowClient(mlflow_server).get_run(version.run_id).data.params["C"] == "0.5"

    # the cluster restarted the task: the same version, none registered again
    again = run_on_cluster(bundle, task_parameters(standin, run_id), mlflow_server, tmp_path)
    assert job_outputs(again.stdout.splitlines())["model_version"] == "1"
    assert len(MlflowClient(mlflow_server).search_model_versions(f"name = '{full_name}'")) == 1

    scoring = BatchSpec(key="atr-cluster-batch", model=ModelRef(model, "1"), dataset="iris", output="scored.csv")
    batch_id = backend.submit_batch(replace(scoring, tags={"team": "alpha"}))
    scored = run_on_cluster(bundle, task_parameters(standin, batch_id), mlflow_server, tmp_path)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert job_outputs(scored.stdout.splitlines())["rows"] == 150
    assert (tmp_path / "scored.csv").read_text().splitlines()[0].endswith("prediction")


def test_a_failing_program_exits_with_its_reason(standin, bundle, mlflow_server, tmp_path):
    backend = make_backend(standin.url, data_root=str(tmp_path))
    run_id = backend.submit_training(spec("atr-cluster-missing", dataset="missing.csv", target_column="y"))

    failed = run_on_cluster(bundle, task_parameters(standin, run_id), mlflow_server, tmp_path)
    assert failed.returncode != 0
    assert "missing.csv" in failed.stderr.splitlines()[-1]  # what Databricks shows as the run's error
    assert job_outputs(failed.stdout.splitlines()) == {}


def test_outputs_are_read_from_the_last_marked_line_only():
    marker = "ATRIUM_OUTPUTS "
    assert job_outputs(["Training", marker + json.dumps({"model_version": "2"})]) == {"model_version": "2"}
    assert job_outputs([marker + "not json", "done"]) == {}
    assert job_outputs([marker + "[1, 2]"]) == {}


def test_a_stand_in_that_runs_programs_registers_the_trained_model(tmp_path):
    """As ``make run`` starts it: the run trains for real and its version serves."""
    import mlflow.pyfunc
    from sklearn.datasets import load_iris

    from apps.backends.sandbox.databricks import DatabricksStandIn
    from tests.backends.databricks.test_databricks_backend import TOKEN

    with DatabricksStandIn(token=TOKEN, programs_dir=tmp_path / "runs") as standin:
        backend = make_backend(standin.url, data_root=str(tmp_path))
        model = f"ran-{uuid.uuid4().hex[:8]}"
        run_id = backend.submit_training(spec("atr-ran-1", model_name=model))
        status = wait_for_job(backend.poll_training, run_id)
        assert status.state is JobState.SUCCEEDED, status.message
        full_name = f"atrium.models.{model}"
        assert status.model == ModelRef(full_name, "1")  # as the registry lists it
        assert full_name in {m.name for m in backend.list_registered_models()}
        assert status.metrics["accuracy"] > 0.8
        assert all(type(value) is float for value in status.metrics.values())
        assert Link("Databricks job run", f"{standin.url}/#job/runs/{run_id}") in status.links
        model_page = f"{standin.url}/explore/data/models/atrium/models/{model}/version/1"
        assert Link("Unity Catalog model version", model_page) in status.links
        # outputs keep the backend's extras only, never the typed fields
        assert not {"model_name", "model_version", "registered_model", "metrics"} & set(status.outputs)
        assert status.outputs["databricks_run_id"] == int(run_id) and status.outputs["mlflow_run_id"]

        (version,) = backend.list_model_versions(model)
        served = mlflow.pyfunc.load_model(standin.state["models"][f"atrium.models.{model}"]["versions"]["1"]["source"])
        assert len(served.predict(load_iris(as_frame=True).data.head(3))) == 3
        assert version.version == "1"
