"""What every benchmark shares: a scratch environment, a gunicorn server on a
free port, logged-in sessions, concurrent timing and the printed figures."""

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-pw-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_django() -> str:
    """A throwaway SQLite database and var folder (or DATABASE_URL if set --
    then it writes there), migrated, with static files collected."""
    scratch = tempfile.mkdtemp(prefix="atrium-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3")
    os.environ.update(
        ATRIUM_VAR_DIR=scratch, DEBUG="0", SECRET_KEY="bench-only", DJANGO_SETTINGS_MODULE="portal.settings"
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    return scratch


@contextlib.contextmanager
def portal_server(workers: int = 2, threads: int = 4):
    """The portal under gunicorn, as in production; yields its base URL."""
    import requests

    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "-b", f"127.0.0.1:{port}"]
    command += ["-w", str(workers), "--threads", str(threads), "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # patient: gunicorn's workers boot slowly on a busy machine
            try:
                requests.get(base + "/login/", timeout=10)
                break
            except requests.RequestException:
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait()


def logged_in_session(base: str, username: str):
    import requests

    session = requests.Session()
    session.get(base + "/login/", timeout=10)
    session.post(
        base + "/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=10,
    )
    return session


def measure(url: str, session, clients: int, total: int, vary=None) -> list[float]:
    """Milliseconds per request, ``clients`` at a time (each at ``vary()`` instead of ``url``
    when given: a new URL per request, to time what a cache would otherwise answer)."""
    from requests.adapters import HTTPAdapter

    # One kept-alive connection per client: a smaller pool would reconnect and time the handshakes.
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=clients))

    def one(_):
        target = vary() if vary else url
        start = time.perf_counter()
        response = session.get(target, timeout=300)  # an admin's uncached year takes long under 16 clients
        response.raise_for_status()
        return (time.perf_counter() - start) * 1000

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(total)))


def report(name: str, timings: list[float]) -> None:
    quantiles = statistics.quantiles(timings, n=100)
    print(f"{name:<34} n={len(timings):<5} p50={quantiles[49]:7.1f} ms  p95={quantiles[94]:7.1f} ms")
