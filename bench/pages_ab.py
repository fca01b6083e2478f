"""The list pages and the home, before and after a change, side by side on one machine.

    mkdir /tmp/atrium-before && git archive <commit> | tar -x -C /tmp/atrium-before
    .venv/bin/python bench/pages_ab.py /tmp/atrium-before [--rows 10000] [--requests 80]

Two gunicorn servers (one worker, one thread each), one from the other checkout
("before") and one from this one ("after"), on the same throwaway database with
``--rows`` runs, templates and models; every page is asked of both in turn (the
order flipped each round), so both see the same load from whatever else runs on
the machine. Prints p50 and p95 of the time to an answer and the server's CPU
time per request, with the login page as the anchor. Not a test: it asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, free_port, logged_in_session, setup_django
from pages import seed_models, seed_runs, seed_templates, server_processes, user_with_teams

PAGES = {"anchor: /login/": "/login/", "runs": "/runs/", "catalogue": "/catalog/", "models": "/models/", "home": "/"}


def start(root: Path):
    import requests

    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "-b", f"127.0.0.1:{port}"]
    command += ["-w", "1", "--threads", "1", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=root, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(base + "/login/", timeout=10)
            break
        except requests.RequestException:
            time.sleep(0.3)
    return server, base


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=80)
    args = parser.parse_args()

    setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("load_catalog", verbosity=0)
    user, team = user_with_teams()
    seed_runs(user, team, 30)
    seed_models(team, 10, 12)
    seed_runs(user, team, args.rows, offset=30)
    seed_templates(team, args.rows)
    seed_models(team, args.rows, 2, offset=10)
    connection.close()

    servers = {"before": start(args.before.resolve()), "after": start(ROOT)}
    try:
        sessions = {name: logged_in_session(base, user.username) for name, (_, base) in servers.items()}
        processes = {name: server_processes(base) for name, (_, base) in servers.items()}
        for name, (_, base) in servers.items():  # warm up
            for path in PAGES.values():
                for _ in range(5):
                    sessions[name].get(base + path, timeout=60)
        wall = {(name, page): [] for name in servers for page in PAGES}
        cpu = {(name, page): [] for name in servers for page in PAGES}
        for round_ in range(args.requests):
            order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
            for page, path in PAGES.items():
                for name in order:
                    used = sum(sum(p.cpu_times()[:2]) for p in processes[name])
                    start_ = time.perf_counter()
                    response = sessions[name].get(servers[name][1] + path, timeout=60)
                    wall[(name, page)].append((time.perf_counter() - start_) * 1000)
                    cpu[(name, page)].append((sum(sum(p.cpu_times()[:2]) for p in processes[name]) - used) * 1000)
                    response.raise_for_status()
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait()

    print(f"{args.rows} rows; {args.requests} requests a page a server, alternated")
    print(f"{'page':<16} {'before p50':>10} {'p95':>8} {'cpu/req':>8}   {'after p50':>9} {'p95':>8} {'cpu/req':>8}")
    for page in PAGES:
        cells = []
        for name in servers:
            timings = wall[(name, page)]
            p95 = statistics.quantiles(timings, n=20)[18]
            used = statistics.mean(cpu[(name, page)])
            cells.append(f"{statistics.median(timings):8.1f}ms {p95:6.1f}ms {used:6.1f}ms")
        print(f"{page:<16} {cells[0]}   {cells[1]}")


if __name__ == "__main__":
    main()
