"""Detached processes and small state files, shared by the local backend's
training jobs, model servers and workspaces.

A process runs in its own process group, so it outlives the Celery worker that
started it and a stop kills it with all its children. Its folder keeps a
``pid`` file, and the process is known by its command line, which names the
folder, so a recycled pid is never taken for it. State files are written atomically: a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[3]
STOP_GRACE_SECONDS = 5.0
SPAWN_SETTLE_SECONDS = 5.0

# A job key or a name the portal makes into a folder: nothing that climbs out of it.
SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


def spawn(
    *, python: str, module: str, folder: Path, log_name: str, tracking_uri: str, env: dict[str, str] | None = None
) -> None:
    """Start ``python -m module folder`` detached, logging to ``folder/log_name``, with ``env`` added."""
    with open(folder / log_name, "ab") as log:
        process = subprocess.Popen(
            [python, "-m", module, str(folder)],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: survives the worker, dies with a stop
            env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    started = psutil.Process(process.pid)
    _await_arguments(started)
    # Atomically: a poll in another worker never reads half a pid file (and takes the job for dead).
    pending = folder / f".pid.{os.getpid()}.tmp"
    pending.write_text(f"{process.pid} {started.create_time()}")
    pending.replace(folder / "pid")


def _await_arguments(process: psutil.Process, timeout: float = SPAWN_SETTLE_SECONDS) -> None:
    """Wait until the new process's command line can be read. Popen returns as soon as
    exec has closed the child's inherited descriptors, which the kernel does before it
    lays out the new program's arguments: in that window ``/proc/<pid>/cmdline`` is
    empty, and a ``find`` then (a redelivered submit, the first poll) took a job that
    had just started for a dead one. On a busy machine the window lasts milliseconds."""
    deadline = time.monotonic() + timeout
    with suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        while not process.cmdline() and time.monotonic() < deadline:
            time.sleep(0.005)


def find(folder: Path) -> psutil.Process | None:
    """The folder's process if it still runs. A recycled pid is told apart by the command
    line, which names the folder (``spawn``), not by the start time in the pid file: psutil
    derives start times from the boot time, which moves when the clock does (a VM resumed
    from a snapshot), and a job alive and well was then taken for one that had died."""
    try:
        pid, _ = (folder / "pid").read_text().split()
        process = psutil.Process(int(pid))
        if not _runs_in(process, folder):
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            with suppress(ChildProcessError):  # not our child: its own parent reaps it
                os.waitpid(process.pid, os.WNOHANG)
            return None
        return process
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None


def _runs_in(process: psutil.Process, folder: Path) -> bool:
    try:
        arguments = process.cmdline()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return bool(arguments) and Path(arguments[-1]).resolve() == folder.resolve()


def stop(process: psutil.Process, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after ``grace``."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        if not _ended(process, grace):
            os.killpg(process.pid, signal.SIGKILL)
            _ended(process, grace)
    except ProcessLookupError:
        pass


def _ended(process: psutil.Process, timeout: float) -> bool:
    """Whether the process ended within ``timeout``. A process that exited is a
    zombie until its parent reaps it, and its parent is often another process
    (the worker that started it): waiting for its pid to vanish would wait out
    the whole grace for nothing, so a zombie counts as ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                with suppress(ChildProcessError):  # ours: reap it
                    os.waitpid(process.pid, os.WNOHANG)
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@contextmanager
def locked(path: Path):
    """An exclusive lock between processes (workers on one machine)."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_json(path: Path, payload: dict) -> None:
    # A temporary name per writer: a worker and the portal may write the same
    # state at once, and a shared ".tmp" let one rename away the other's file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)  # atomic
