"""Admission control: at most ``max_jobs`` local jobs (training, search,
batch scoring) run at a time on this machine; the others wait their turn.

The queue is a small JSON file in the jobs folder, read and written under a
lock shared by every worker on the machine (``processes.locked``). A job that
cannot start yet makes ``submit`` raise ``NotReady("Queued: n ahead")``: the
run engine asks again at its polling pace without spending an attempt, and
each ask keeps the job's place. Turns go in order of first submission, round
robin across teams (the ``team`` tag): a team that just got a slot goes after
the teams still waiting. A job that ends (finished, cancelled, or its process
died) frees its slot at the next ask, since a running slot is a live process.

A cancelled job leaves the queue at once (``leave``). A waiting job that
stops asking (its run was deleted) stops counting as ahead of others after
``LIVE_SECONDS``, and leaves the queue after ``FORGET_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..base import NotReady
from . import processes

QUEUE_FILE = "admission.json"
LOCK_FILE = ".admission.lock"
TERMINAL = {"succeeded", "failed", "cancelled"}
LIVE_SECONDS = 60.0
FORGET_SECONDS = 600.0


def admit(*, jobs_dir: Path, key: str, team: str, max_jobs: int, start: Callable[[], None]) -> None:
    """Call ``start`` (which starts the job ``key``) if a slot is free and it is
    ``key``'s turn; otherwise raise NotReady with how many are ahead of it."""
    jobs_dir.mkdir(parents=True, exist_ok=True)
    with processes.locked(jobs_dir / LOCK_FILE):
        queue = processes.read_json(jobs_dir / QUEUE_FILE)
        now = time.time()
        running = [k for k in queue.get("running", []) if k != key and _alive(jobs_dir, k)]
        waiting = [w for w in queue.get("waiting", []) if now - w["seen"] < FORGET_SECONDS]
        served = dict(queue.get("served", {}))
        entry = next((w for w in waiting if w["key"] == key), None)
        if entry is None:
            entry = {"key": key, "team": team, "since": now, "seen": now}
            waiting.append(entry)
        entry["seen"] = now
        live = [w for w in waiting if now - w["seen"] < LIVE_SECONDS]
        order = [w["key"] for w in _turns(live, served)]
        free = max(max_jobs, 1) - len(running)
        position = order.index(key)
        if position < free:
            start()
            waiting = [w for w in waiting if w["key"] != key]
            running.append(key)
            served[team] = now
        processes.write_json(jobs_dir / QUEUE_FILE, {"running": running, "waiting": waiting, "served": served})
    if position >= free:
        raise NotReady(f"Queued: {position - free + 1} ahead")


def leave(*, jobs_dir: Path, key: str) -> None:
    """``key`` no longer waits for a turn (its run was cancelled): the jobs behind it move up now."""
    if not (jobs_dir / QUEUE_FILE).exists():
        return
    with processes.locked(jobs_dir / LOCK_FILE):
        queue = processes.read_json(jobs_dir / QUEUE_FILE)
        waiting = [w for w in queue.get("waiting", []) if w["key"] != key]
        if len(waiting) != len(queue.get("waiting", [])):
            processes.write_json(jobs_dir / QUEUE_FILE, {**queue, "waiting": waiting})


def _turns(waiting: list[dict], served: dict[str, float]) -> list[dict]:
    """Waiting jobs in the order they get a slot: round robin over teams, each
    team's jobs in order of submission; in each round, the team served longest
    ago (or never) first, then the team whose oldest job waits longest."""
    by_team: dict[str, list[dict]] = {}
    for entry in sorted(waiting, key=lambda w: w["since"]):
        by_team.setdefault(entry["team"], []).append(entry)
    teams = sorted(by_team, key=lambda t: (served.get(t, 0.0), by_team[t][0]["since"]))
    rounds = max((len(jobs) for jobs in by_team.values()), default=0)
    return [by_team[t][i] for i in range(rounds) for t in teams if i < len(by_team[t])]


def _alive(jobs_dir: Path, key: str) -> bool:
    """A job holds its slot while its process runs and has not reported an end
    (a finished job's process may take a moment to exit)."""
    state = processes.read_json(jobs_dir / key / "status.json").get("state")
    return state not in TERMINAL and processes.find(jobs_dir / key) is not None
