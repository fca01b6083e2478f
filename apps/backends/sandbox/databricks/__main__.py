"""Runs the Databricks STAND-IN (not Databricks) as a server:
``python -m apps.backends.sandbox.databricks --port 8765 --token T --state var/databricks.json
[--programs DIR] [--files-root DIR] [--demo-billing DAYS]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from ..demo_billing import demo_rows
from .server import DatabricksStandIn
from .state import DEFAULT_ACCOUNT_ID


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Databricks REST API stand-in (not Databricks).")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=os.environ.get("DATABRICKS_STANDIN_TOKEN", "dapi-stand-in"))
    parser.add_argument("--denied-token", default="dapi-denied")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    parser.add_argument(
        "--state",
        default=None,
        help="JSON file keeping runs, endpoints, models, schemas, folders and experiments across restarts",
    )
    parser.add_argument("--programs", default=None, help="run job runs' programs here (default: simulate runs)")
    parser.add_argument(
        "--files-root", action="append", default=[], help="a folder the Files API serves (job runs write there)"
    )
    parser.add_argument("--demo-billing", type=int, default=0, help="serve this many days of SANDBOX billable usage")
    args = parser.parse_args(argv)
    standin = DatabricksStandIn(
        token=args.token,
        denied_token=args.denied_token,
        port=args.port,
        host=args.host,
        state_path=args.state,
        account_id=args.account_id,
        programs_dir=args.programs,
        file_roots=tuple(args.files_root),
    ).start()
    if args.demo_billing:
        standin.seed_demo_usage(demo_rows(backend="databricks", days=args.demo_billing))
    print(f"Databricks stand-in on {standin.url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    standin.stop()


if __name__ == "__main__":
    main()
