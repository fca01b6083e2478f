"""`make run`'s supervisor: a process killed with -9 comes back alone, the
others keep running; only SIGINT stops all (issue 15, item 12)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from portal.supervise import read_env_files, read_procfile
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_process_is_restarted_and_the_others_keep_running(tmp_path):
    (tmp_path / "Procfile").write_text(
        "# two long sleepers that note their pid\n"
        f"alpha: echo $$ >> {tmp_path}/alpha.pids && exec sleep 300\n"
        f"beta: echo $$ >> {tmp_path}/beta.pids && exec sleep 300\n"
    )
    log = open(tmp_path / "supervise.log", "wb")  # noqa: SIM115 - closed below
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "portal.supervise", "-f", str(tmp_path / "Procfile"), "--backoff", "0.2"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: pids(tmp_path / "alpha.pids") and pids(tmp_path / "beta.pids"), 20, message="both")
        [first_alpha] = pids(tmp_path / "alpha.pids")
        [beta] = pids(tmp_path / "beta.pids")

        os.kill(first_alpha, signal.SIGKILL)
        wait_until(lambda: len(pids(tmp_path / "alpha.pids")) == 2, 20, message="alpha to come back")
        second_alpha = pids(tmp_path / "alpha.pids")[-1]
        assert second_alpha != first_alpha and alive(second_alpha)
        assert supervisor.poll() is None
        assert pids(tmp_path / "beta.pids") == [beta] and alive(beta)  # never restarted
        output = (tmp_path / "supervise.log").read_text()
        assert "alpha" in output and "killed by SIGKILL; restarting in 0.2 s" in output

        supervisor.send_signal(signal.SIGINT)  # Ctrl-C stops everything
        assert supervisor.wait(timeout=20) == 0
        wait_until(lambda: not alive(second_alpha) and not alive(beta), 10, message="children to stop")
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        log.close()


def test_quick_crashes_back_off(tmp_path):
    (tmp_path / "Procfile").write_text(f"crash: echo x >> {tmp_path}/runs && exit 3\n")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "portal.supervise", "-f", str(tmp_path / "Procfile"), "--backoff", "0.3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    time.sleep(3)  # 0.3 + 0.6 + 1.2 = 2.1 s of pauses: four runs at most, not one every poll
    supervisor.send_signal(signal.SIGINT)
    output = supervisor.communicate(timeout=20)[0].decode()
    runs = (tmp_path / "runs").read_text().count("x")
    assert 2 <= runs <= 4, output
    assert "exited with code 3; restarting in 0.3 s" in output and "restarting in 0.6 s" in output


def test_ctrl_c_waits_for_programs_that_outlive_their_shell(tmp_path):
    """A Procfile line runs under sh; on SIGTERM the shell may end at once while the
    program it started is still shutting down. Stopping waits for the whole group."""
    script = tmp_path / "slow_stop.py"
    script.write_text(
        "import os, signal, sys, time\n"
        f"open({str(tmp_path / 'slow.pid')!r}, 'w').write(str(os.getpid()))\n"
        "signal.signal(signal.SIGTERM, lambda *a: (time.sleep(1.5), sys.exit(0)))\n"
        "time.sleep(300)\n"
    )
    (tmp_path / "Procfile").write_text(f"slow: {sys.executable} {script} && true\n")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "portal.supervise", "-f", str(tmp_path / "Procfile")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: (tmp_path / "slow.pid").exists() and (tmp_path / "slow.pid").read_text(), 20, message="start")
    slow = int((tmp_path / "slow.pid").read_text())
    time.sleep(0.5)
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(timeout=20) == 0
    assert not alive(slow)  # it had finished its shutdown when the supervisor returned


def test_procfile_and_env_files(tmp_path):
    (tmp_path / "Procfile").write_text("# comment\n\nweb: bin/web --port $PORT\nworker: celery -A portal worker\n")
    assert read_procfile(tmp_path / "Procfile") == {"web": "bin/web --port $PORT", "worker": "celery -A portal worker"}
    (tmp_path / "a.env").write_text("# c\nA=1\nexport B='two'\n")
    assert read_env_files([tmp_path / "a.env", tmp_path / "missing.env"]) == {"A": "1", "B": "two"}
