"""A job's process is known by its command line, which names its folder: a start time that
moved with the clock (a VM resumed from a snapshot) does not make a live job look dead, and
a recycled pid (another process) is not taken for it."""

import os
import sys

from apps.backends.local import processes


def test_a_live_job_is_found_whatever_its_recorded_start_time_and_a_recycled_pid_is_not(tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    (tmp_path / "sleeper.py").write_text("import time\ntime.sleep(120)\n")  # a job that runs until stopped
    processes.spawn(
        python=sys.executable,
        module="sleeper",
        folder=folder,
        log_name="log.txt",
        tracking_uri="file:///x",
        env={"PYTHONPATH": str(tmp_path)},
    )
    pid, started = (folder / "pid").read_text().split()
    try:
        assert processes.find(folder).pid == int(pid)
        (folder / "pid").write_text(f"{pid} {float(started) + 7.5}")  # the boot time moved by 7.5 s
        assert processes.find(folder).pid == int(pid)
        (folder / "pid").write_text(f"{os.getpid()} {started}")  # this test's own pid: not the job's
        assert processes.find(folder) is None
    finally:
        (folder / "pid").write_text(f"{pid} {started}")
        processes.stop(processes.find(folder))
    assert processes.find(folder) is None


def test_a_job_is_found_the_moment_its_spawn_returns(tmp_path):
    """Popen returns while exec is still laying out the new program's arguments (an empty
    command line for a moment): a redelivered submit or the first poll, right then, took
    the job for dead and started a second one."""
    (tmp_path / "sleeper.py").write_text("import time\ntime.sleep(120)\n")
    found = []
    for attempt in range(8):
        folder = tmp_path / f"job-{attempt}"
        folder.mkdir()
        processes.spawn(
            python=sys.executable,
            module="sleeper",
            folder=folder,
            log_name="log.txt",
            tracking_uri="file:///x",
            env={"PYTHONPATH": str(tmp_path)},
        )
        process = processes.find(folder)  # at once, as a redelivered submit does
        found.append(process is not None)
        processes.stop(process or processes.find(folder))
    assert all(found)
