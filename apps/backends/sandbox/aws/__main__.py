"""Runs the AWS STAND-IN (moto with Atrium's extensions; not AWS) as a server:
``python -m apps.backends.sandbox.aws --port 5010 [--bucket B ...] [--programs DIR] [--demo-billing DAYS]``.
"""

from __future__ import annotations

import argparse
import signal
import threading

from ..demo_billing import demo_rows
from .extensions.billing import seed_daily_costs
from .server import AwsStandIn, create_bucket


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the AWS stand-in (moto with Atrium's extensions).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5010)
    parser.add_argument("--bucket", action="append", default=[], help="an S3 bucket to create at start (repeatable)")
    parser.add_argument("--programs", default=None, help="run training programs and serve their models here")
    parser.add_argument(
        "--demo-billing", type=int, default=0, help="serve this many days of SANDBOX billing from Cost Explorer"
    )
    args = parser.parse_args(argv)
    stand_in = AwsStandIn(args.host, args.port, quiet=False, programs_dir=args.programs)
    url = stand_in.start()
    for bucket in args.bucket:  # e.g. the sandbox connection's output bucket, as an operator would have made it
        create_bucket(url, bucket)
    if args.demo_billing:
        seed_daily_costs(demo_rows(backend="sagemaker", days=args.demo_billing))
    print(f"AWS stand-in (moto) listening on {url}; use it as the connection's endpoint URL.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    stand_in.stop()


if __name__ == "__main__":
    main()
