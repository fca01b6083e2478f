"""A small process supervisor for `make run`: starts every process of a
Procfile, prefixes their output, and when one dies (a crash, ``kill -9``)
restarts it alone, after a pause that doubles on each quick crash (1 s up to
60 s) and resets once it has stayed up for a minute. Every exit and restart is
logged. Only Ctrl-C (SIGINT) or SIGTERM stops everything.

honcho (used before) stops all processes when one exits: one crashed Celery
worker took the web, MLflow, beat and the stand-ins down with it.

    python -m portal.supervise [-f Procfile] [-e .env,more.env] [--backoff 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

STABLE_SECONDS = 60.0
MAX_BACKOFF = 60.0
STOP_GRACE_SECONDS = 10.0

_print_lock = threading.Lock()


def log(name: str, line: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{datetime.now():%H:%M:%S} {name:<12}| {line}\n")
        sys.stdout.flush()


def read_procfile(path: Path) -> dict[str, str]:
    processes = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise SystemExit(f"{path}:{number}: expected 'name: command'")
        processes[name.strip()] = command.strip()
    return processes


def read_env_files(paths: list[Path]) -> dict[str, str]:
    """KEY=VALUE lines (quotes stripped, comments skipped); files that are missing are skipped."""
    values = {}
    for path in paths:
        if not path.is_file():
            continue
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.removeprefix("export ").partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass
class Child:
    name: str
    command: str
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = 1.0
    restart_at: float | None = None
    restarts: int = 0
    reader: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, processes: dict[str, str], env: dict[str, str], *, backoff: float = 1.0):
        self.children = [Child(name, command, backoff=backoff) for name, command in processes.items()]
        self.env = env
        self.initial_backoff = backoff
        self.stopping = threading.Event()

    def start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            ["/bin/sh", "-c", child.command],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: signals reach its children too
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        log(child.name, f"started (pid {child.process.pid})")
        child.reader = threading.Thread(target=self._forward, args=(child, child.process), daemon=True)
        child.reader.start()

    @staticmethod
    def _forward(child: Child, process: subprocess.Popen) -> None:
        for raw in iter(process.stdout.readline, b""):
            log(child.name, raw.decode(errors="replace").rstrip())

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    @staticmethod
    def _group_alive(process: subprocess.Popen) -> bool:
        process.poll()  # reap the leader, so a finished one does not count as alive
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _describe(self, code: int) -> str:
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def check(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping.is_set():
                    child.restarts += 1
                    log(child.name, f"restarting (restart {child.restarts})")
                    self.start(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            self._signal_group(child.process, signal.SIGTERM)  # what it left behind (pool workers...)
            if now - child.started_at >= STABLE_SECONDS:
                child.backoff = self.initial_backoff
            child.restart_at = now + child.backoff
            log(child.name, f"{self._describe(code)}; restarting in {child.backoff:g} s")
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)

    def stop(self) -> None:
        log("supervise", "stopping all processes")
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            self._signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        # Wait for whole process groups, not just their leaders: the shell that runs a
        # Procfile line may end before the program it started has shut down.
        while time.monotonic() < deadline and any(self._group_alive(p) for p in running):
            for process in running:
                process.poll()
            time.sleep(0.1)
        for process in running:
            if self._group_alive(process):
                log("supervise", f"pid {process.pid}'s group did not stop in {STOP_GRACE_SECONDS:g} s; killing it")
                self._signal_group(process, signal.SIGKILL)
            process.wait()
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=1)

    def run(self) -> int:
        def request_stop(signum, frame):
            self.stopping.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        for child in self.children:
            self.start(child)
        while not self.stopping.wait(0.2):
            self.check()
        self.stop()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--procfile", default="Procfile", type=Path)
    parser.add_argument("-e", "--env", default=".env", help="comma-separated env files (missing ones skipped)")
    parser.add_argument("--backoff", type=float, default=1.0, help="first pause before a restart, in seconds")
    args = parser.parse_args(argv)
    # The environment wins over the files, as in the settings.
    env = {**read_env_files([Path(p) for p in args.env.split(",") if p]), **os.environ}
    return Supervisor(read_procfile(args.procfile), env, backoff=args.backoff).run()


if __name__ == "__main__":
    sys.exit(main())
