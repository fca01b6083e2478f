"""The local backend: training in a subprocess on this machine, tracked and
registered in MLflow. Endpoints, provisioning, registry writes and costs on
the local backend arrive with the cloud-backends issue; until then they raise
``BackendUnavailable`` with a clear message."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager, suppress
from dataclasses import asdict
from pathlib import Path

import psutil

from ..base import BackendError, BackendUnavailable, JobState, JobStatus, TrainingSpec

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
CANCEL_GRACE_SECONDS = 5.0


class LocalBackend:
    kind = "local"

    def __init__(self, *, jobs_dir: Path, tracking_uri: str, data_root: Path, python: str = sys.executable):
        self.jobs_dir = Path(jobs_dir)
        self.tracking_uri = tracking_uri
        self.data_root = Path(data_root)
        self.python = python

    @classmethod
    def from_settings(cls) -> LocalBackend:
        from django.conf import settings

        return cls(
            jobs_dir=settings.LOCAL_JOBS_DIR, tracking_uri=settings.MLFLOW_TRACKING_URI, data_root=settings.DATA_ROOT
        )

    # --- training --------------------------------------------------------------

    def submit_training(self, spec: TrainingSpec) -> str:
        job_dir = self._job_dir(spec.key)
        job_dir.mkdir(parents=True, exist_ok=True)
        with _locked(job_dir / ".lock"):
            state = self._read_status(job_dir).get("state")
            if self._process_alive(job_dir) or state in {"succeeded", "cancelled"}:
                return spec.key  # already submitted: a redelivered task creates nothing new
            self._write_spec(job_dir, spec)
            self._start(job_dir)
        return spec.key

    def poll_training(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        job_dir = self._job_dir(external_id)
        if not job_dir.is_dir():
            raise BackendError(f"No local job {external_id}.", permanent=True)
        status = self._read_status(job_dir)
        logs, cursor = _read_lines(job_dir / "log.txt", log_cursor)
        state = JobState(status.get("state", "pending"))
        message = status.get("message", "")
        if not state.is_terminal and not self._process_alive(job_dir):
            # Re-read: the job may have finished between the two reads.
            status = self._read_status(job_dir)
            state = JobState(status.get("state", "pending"))
            if not state.is_terminal:
                state = JobState.CANCELLED if (job_dir / "cancelled").exists() else JobState.FAILED
                message = "Cancelled" if state is JobState.CANCELLED else _exit_reason(logs)
        return JobStatus(
            state=state,
            progress=float(status.get("progress", 0)),
            message=message,
            logs=logs,
            log_cursor=cursor,
            outputs=status.get("outputs", {}),
        )

    def cancel_training(self, external_id: str) -> None:
        job_dir = self._job_dir(external_id)
        (job_dir / "cancelled").touch()
        process = self._process(job_dir)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=CANCEL_GRACE_SECONDS)
        except psutil.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass

    # --- what the local backend does not do yet -----------------------------------

    def _not_yet(self, what: str):
        raise BackendUnavailable(f"{what} on the local backend is not available yet.")

    def provision(self, spec):
        self._not_yet("Provisioning")

    def poll_provision(self, external_id):
        self._not_yet("Provisioning")

    def teardown(self, external_id):
        self._not_yet("Teardown")

    def deploy_endpoint(self, spec):
        self._not_yet("Endpoints")

    def get_endpoint(self, name):
        self._not_yet("Endpoints")

    def update_traffic(self, name, weights):
        self._not_yet("Endpoints")

    def rollback_endpoint(self, name):
        self._not_yet("Endpoints")

    def delete_endpoint(self, name):
        self._not_yet("Endpoints")

    def invoke(self, name, payload):
        self._not_yet("Invocation")

    def list_model_versions(self, model_name):
        self._not_yet("Registry reads")

    def set_alias(self, model, alias):
        self._not_yet("Registry writes")

    def set_approval_status(self, model, status):
        self._not_yet("Registry writes")

    def get_costs(self, *, start, end, tags=None):
        self._not_yet("Costs")

    # --- helpers ---------------------------------------------------------------

    def _job_dir(self, key: str) -> Path:
        if not SAFE_KEY.match(key):
            raise BackendError(f"Invalid job key {key!r}.", permanent=True)
        return self.jobs_dir / key

    def _write_spec(self, job_dir: Path, spec: TrainingSpec) -> None:
        experiment = f"atrium-{spec.tags.get('team', 'default')}"
        payload = {
            **asdict(spec),
            "tracking_uri": self.tracking_uri,
            "data_root": str(self.data_root),
            "experiment": experiment,
        }
        (job_dir / "spec.json").write_text(json.dumps(payload))

    def _start(self, job_dir: Path) -> None:
        (job_dir / "status.json").unlink(missing_ok=True)
        with open(job_dir / "log.txt", "ab") as log:
            process = subprocess.Popen(
                [self.python, "-m", "apps.backends.local.train_job", str(job_dir)],
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: survives the worker, dies with a cancel
                env={**os.environ, "MLFLOW_TRACKING_URI": self.tracking_uri, "PYTHONUNBUFFERED": "1"},
            )
        create_time = psutil.Process(process.pid).create_time()
        (job_dir / "pid").write_text(f"{process.pid} {create_time}")

    @staticmethod
    def _read_status(job_dir: Path) -> dict:
        try:
            return json.loads((job_dir / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    @staticmethod
    def _process(job_dir: Path) -> psutil.Process | None:
        """The job's process if it still runs (the pid file also records its
        start time, so a recycled pid is never mistaken for the job)."""
        try:
            pid, create_time = (job_dir / "pid").read_text().split()
            process = psutil.Process(int(pid))
            if abs(process.create_time() - float(create_time)) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                _reap(process.pid)
                return None
            return process
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
            return None

    def _process_alive(self, job_dir: Path) -> bool:
        return self._process(job_dir) is not None


@contextmanager
def _locked(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _reap(pid: int) -> None:
    with suppress(ChildProcessError):  # not our child: its own parent reaps it
        os.waitpid(pid, os.WNOHANG)


def _read_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines after byte ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read(1_000_000)
    except FileNotFoundError:
        return [], offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    lines = complete.decode("utf-8", errors="replace").splitlines()
    return lines, offset + len(complete)


def _exit_reason(recent_logs: list[str]) -> str:
    last = next((line for line in reversed(recent_logs) if line.strip()), "")
    reason = "The training process exited unexpectedly"
    return f"{reason}: {last}" if last else reason + "."
