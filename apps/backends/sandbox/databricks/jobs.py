"""Part of the Databricks STAND-IN (not Databricks): the Jobs API's one-time
runs, as Atrium submits them.

``POST /api/2.2/jobs/runs/submit`` (``idempotency_token`` honoured),
``GET /api/2.2/jobs/runs/get`` (PENDING -> RUNNING -> TERMINATED over a few
polls), ``GET /api/2.2/jobs/runs/get-output``, ``POST /api/2.2/jobs/runs/cancel``
(2.1 answers too). A run whose name or any task parameter contains
``FAIL_MARKER`` ends TERMINATED/FAILED with a Databricks-style
``state_message``; a run whose ``python_file`` is a workspace path that holds
no file fails as on Databricks. Every finished run adds a billable-usage row,
tagged with its cluster's ``custom_tags``.

There is no cluster. By default a run only passes through its states over
polls; with ``programs_dir`` (``--programs``, as ``make run`` starts it) the
run's uploaded workspace program runs on this machine, in a folder of its own,
with MLflow tracking and registering in a SQLite store there, and the model it
reports is registered in the stand-in's Unity Catalog (the version's
``source`` being the local model, which serving loads).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from databricks.sdk.service import jobs

from .router import invalid, route
from .state import USER, now_ms
from .workspace import workspace_path

FAIL_MARKER = "standin-fail"


class JobsApi:
    """One-time job runs. Mixed into ``DatabricksStandIn``: uses its state, its
    poll counts and ``programs_dir``, the catalog (to register a program's model)
    and billing (a row per finished run)."""

    @route("POST", r"^/api/2\.[12]/jobs/runs/submit$")
    def _runs_submit(self, payload, **_):
        token = payload.get("idempotency_token")
        if token is not None:
            if len(token) > 64:
                raise invalid("The idempotency token must be at most 64 characters.")
            if token in self.state["tokens"]:
                return jobs.SubmitRunResponse(run_id=self.state["tokens"][token]).as_dict()
        tasks = [jobs.SubmitTask.from_dict(t) for t in payload.get("tasks") or []]
        if not tasks:
            raise invalid("At least one task is required.")
        for task in tasks:
            if not task.task_key:
                raise invalid("Task key must be specified.")
            if not (task.spark_python_task or task.python_wheel_task or task.notebook_task):
                raise invalid(f"Task {task.task_key} needs a spark_python_task, python_wheel_task or notebook_task.")
            if not (task.new_cluster or task.existing_cluster_id or task.environment_key):
                raise invalid(f"Task {task.task_key} needs new_cluster, existing_cluster_id or environment_key.")
        run_id = self._new_id()
        run_name = payload.get("run_name") or "Untitled"
        text = json.dumps([run_name, [t.as_dict() for t in tasks]])
        task_runs = []
        for task in tasks:
            task_runs.append({"run_id": self._new_id(), "task": task.as_dict()})
        self.state["runs"][str(run_id)] = {
            "run_id": run_id,
            "run_name": run_name,
            "tasks": task_runs,
            "polls": 0,
            "fail": FAIL_MARKER in text,
            "cancelled": False,
            "start_time": now_ms(),
            "end_time": 0,
            "life_cycle_state": "PENDING",
            "result_state": None,
            "state_message": "Waiting for cluster",
            "logs": [],
        }
        if token is not None:
            self.state["tokens"][token] = run_id
        return jobs.SubmitRunResponse(run_id=run_id).as_dict()

    def _find_run(self, run_id) -> tuple[dict, dict | None]:
        """(run, task run or None) for a run id or a task run id."""
        try:
            wanted = int(run_id)
        except (TypeError, ValueError):
            raise invalid(f"Invalid run_id: {run_id!r}") from None
        run = self.state["runs"].get(str(wanted))
        if run is not None:
            return run, None
        for run in self.state["runs"].values():
            for task_run in run["tasks"]:
                if task_run["run_id"] == wanted:
                    return run, task_run
        raise invalid(f"Run {wanted} does not exist.")

    def _advance_run(self, run: dict) -> None:
        if run["life_cycle_state"] in {"TERMINATED", "INTERNAL_ERROR", "SKIPPED"}:
            return
        run["polls"] += 1
        polls = run["polls"]
        first_task = run["tasks"][0]["task"]
        if run["cancelled"]:
            self._finish_run(run, "CANCELED", "Run cancelled.")
        elif polls <= self.pending_polls:
            run["life_cycle_state"], run["state_message"] = "PENDING", "Waiting for cluster"
        elif run["life_cycle_state"] == "PENDING" and (missing := self._missing_python_file(first_task)):
            run["error"] = f"FileNotFoundError: {missing}"
            run["logs"].append(run["error"])
            self._finish_run(run, "FAILED", f"Cannot read the python file {missing}: it does not exist.")
        elif self.programs_dir and not run["fail"]:
            self._advance_program(run, first_task)
        elif polls <= self.pending_polls + self.running_polls:
            if run["life_cycle_state"] != "RUNNING":
                run["logs"].append(f"Task {first_task['task_key']} started on the stand-in")
            run["life_cycle_state"], run["state_message"] = "RUNNING", "In run"
            run["logs"].append(f"Working ({polls - self.pending_polls}/{self.running_polls})")
        elif run["fail"]:
            run["error"] = f"RuntimeError: {FAIL_MARKER} requested this failure"
            run["logs"].append(run["error"])
            self._finish_run(
                run,
                "FAILED",
                f"Task {first_task['task_key']} failed with message: Workload failed, see run output for details.",
            )
        else:
            run["logs"].append("Task finished")
            self._finish_run(run, "SUCCESS", "")

    # --- running the program (``programs_dir``) ----------------------------------------------

    def _advance_program(self, run: dict, task: dict) -> None:
        process = self._processes.get(run["run_id"])
        folder = self.programs_dir / f"run-{run['run_id']}"
        if process is None and run["life_cycle_state"] == "PENDING":
            run["life_cycle_state"], run["state_message"] = "RUNNING", "In run"
            self._processes[run["run_id"]] = self._start_program(folder, task)
            return
        if process is None:  # a stand-in restarted mid-run: its program went with it
            self._finish_run(run, "FAILED", "The run's cluster was lost (the stand-in restarted).", "INTERNAL_ERROR")
            return
        run["logs"] = (folder / "output.txt").read_text(errors="replace").splitlines()
        if process.poll() is None:
            return
        del self._processes[run["run_id"]]
        if process.returncode != 0:
            run["error"] = next((line for line in reversed(run["logs"]) if line.strip()), "The program failed.")
            self._finish_run(run, "FAILED", f"Task {task['task_key']} failed with message: {run['error']}")
            return
        from apps.backends.databricks.backend import job_outputs
        from apps.backends.jobs.cluster_job import OUTPUTS_MARKER

        outputs = job_outputs(run["logs"])
        if outputs.get("model_uri") and outputs.get("model_name"):
            outputs["model_version"] = str(self._register_program_model(folder, outputs))
            run["logs"].append(OUTPUTS_MARKER + json.dumps(outputs, sort_keys=True))  # in the workspace's numbering
        self._finish_run(run, "SUCCESS", "")

    def _start_program(self, folder: Path, task: dict) -> subprocess.Popen:
        """The task's program and the files beside it, written out and run as a cluster runs it."""
        python_task = task["spark_python_task"]
        entry = workspace_path(python_task["python_file"])
        code = entry.rsplit("/", 1)[0] + "/"
        for path, file in self.state["files"].items():
            if path.startswith(code):
                target = folder / "code" / path.removeprefix(code)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(file["content"]))
        store = f"sqlite:///{folder / 'mlflow.db'}"
        # the workspace's address and a token in the environment, as a cluster's runtime gives its jobs
        # credentials (databricks-sdk's default authentication reads either)
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": store,
            "MLFLOW_REGISTRY_URI": store,
            "DATABRICKS_HOST": self.url,
            "DATABRICKS_TOKEN": self.token,
        }
        with open(folder / "output.txt", "wb") as output:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    str(folder / "code" / entry.rsplit("/", 1)[1]),
                    *python_task.get("parameters", []),
                ],
                cwd=folder,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _register_program_model(self, folder: Path, outputs: dict) -> int:
        """A Unity Catalog version of the model the program registered in its own store."""
        from mlflow import MlflowClient

        store = f"sqlite:///{folder / 'mlflow.db'}"
        name, version = outputs["model_name"], outputs["model_version"]
        source = MlflowClient(store, store).get_model_version_download_uri(name, version)
        catalog_name, schema_name, model_name = name.split(".", 2)
        if name not in self.state["models"]:
            self._model_create({"catalog_name": catalog_name, "schema_name": schema_name, "name": model_name})
        created = self._mlflow_version_create({"name": name, "source": source, "run_id": outputs.get("mlflow_run_id")})
        number = created["model_version"]["version"]
        self._mlflow_version_finalize({"name": name, "version": number})
        return int(number)

    def _missing_python_file(self, task: dict) -> str:
        """The task's workspace ``python_file`` if no file is there (DBFS, volume and Git files are not checked)."""
        path = (task.get("spark_python_task") or {}).get("python_file") or ""
        if not path.startswith("/") or path.startswith("/Volumes/"):
            return ""
        return "" if workspace_path(path) in self.state["files"] else path

    def _finish_run(self, run: dict, result: str, message: str, life_cycle: str = "TERMINATED") -> None:
        run.update(life_cycle_state=life_cycle, result_state=result, state_message=message, end_time=now_ms())
        cluster = run["tasks"][0]["task"].get("new_cluster") or {}
        self._add_usage(
            day=datetime.fromtimestamp(run["end_time"] / 1000, UTC).date().isoformat(),
            dbus=0.5,
            tags=cluster.get("custom_tags") or {},
            sku="STANDARD_JOBS_COMPUTE",
            cluster_id=f"run-{run['run_id']}",
            node_type=cluster.get("node_type_id") or "",
        )

    def _run_json(self, run: dict) -> dict:
        state = jobs.RunState(
            life_cycle_state=jobs.RunLifeCycleState(run["life_cycle_state"]),
            result_state=jobs.RunResultState(run["result_state"]) if run["result_state"] else None,
            state_message=run["state_message"],
            user_cancelled_or_timedout=run["cancelled"],
        )
        tasks = [
            jobs.RunTask(
                run_id=t["run_id"],
                task_key=t["task"]["task_key"],
                state=state,
                start_time=run["start_time"],
                end_time=run["end_time"],
            )
            for t in run["tasks"]
        ]
        return jobs.Run(
            run_id=run["run_id"],
            run_name=run["run_name"],
            state=state,
            tasks=tasks,
            start_time=run["start_time"],
            end_time=run["end_time"],
            run_type=jobs.RunType.SUBMIT_RUN,
            creator_user_name=USER,
            run_page_url=f"{self.url}/#job/runs/{run['run_id']}",
        ).as_dict()

    @route("GET", r"^/api/2\.[12]/jobs/runs/get$")
    def _runs_get(self, query, **_):
        run, task_run = self._find_run(query.get("run_id"))
        if task_run is not None:
            raise invalid(f"Run {query.get('run_id')} is a task run; use runs/get with the parent run id.")
        self._advance_run(run)
        return self._run_json(run)

    @route("GET", r"^/api/2\.[12]/jobs/runs/get-output$")
    def _runs_get_output(self, query, **_):
        run, task_run = self._find_run(query.get("run_id"))
        if task_run is None and len(run["tasks"]) > 1:
            raise invalid(
                "Retrieving the output of runs with multiple tasks is not supported. "
                "Please retrieve the output of each individual task run instead."
            )
        output = jobs.RunOutput(logs="\n".join(run["logs"]) + ("\n" if run["logs"] else ""), logs_truncated=False)
        if run["result_state"] == "FAILED":
            output.error = run.get("error") or "The run failed."
        return output.as_dict()

    @route("POST", r"^/api/2\.[12]/jobs/runs/cancel$")
    def _runs_cancel(self, payload, **_):
        run, _task = self._find_run(payload.get("run_id"))
        if run["life_cycle_state"] != "TERMINATED":
            process = self._processes.pop(run["run_id"], None)
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            run["cancelled"] = True
            run["life_cycle_state"], run["state_message"] = "TERMINATING", "Cancellation requested"
        return {}
