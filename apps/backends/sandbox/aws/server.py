"""The AWS STAND-IN, not AWS: moto's threaded server, in this process, with
Atrium's extensions (``.extensions``) patched into moto's backends and the
fault middleware (``.faults``) around its app. It speaks AWS's real wire
protocols, so boto3 reaches it through ``endpoint_url`` (or
``AWS_ENDPOINT_URL``) alone; the SageMaker backend has no sandbox branch.

Canned data goes through moto's own endpoints: ``seed_costs`` posts to
``/moto-api/static/ce/cost-and-usage-results`` (GetCostAndUsage answers from
that queue) and ``seed_invocations`` to
``/moto-api/static/sagemaker/endpoint-results`` (InvokeEndpoint answers, when
no program serves the endpoint). ``create_bucket`` makes an S3 bucket.
``flush_capture`` writes the Data Capture events still waiting
(``extensions.data_capture``) to S3 now.

State lives in this process; it does not survive a restart.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from . import programs
from .extensions import data_capture, install_extensions
from .faults import FaultMiddleware, Faults


class AwsStandIn:
    """moto's threaded server with the extensions and the fault middleware."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True, programs_dir: str | Path | None = None
    ):
        import logging

        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        install_extensions()
        self.programs_dir = Path(programs_dir).resolve() if programs_dir else None
        self.faults = Faults()
        faults = self.faults

        class _Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                app = FaultMiddleware(DomainDispatcherApplication(create_backend_app), faults)
                self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        if quiet:  # werkzeug's access log, one line a call
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = _Server(ip_address=host, port=port, verbose=False)
        self.url = ""

    def start(self) -> str:
        if self.programs_dir:  # moto's state is the process's: so is this switch, until stop()
            programs.settings["programs_dir"] = self.programs_dir
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        data_capture.flush()
        self._server.stop()
        if self.programs_dir:
            programs.settings["programs_dir"] = None

    def flush_capture(self) -> int:
        """Write the Data Capture events waiting in memory to S3 now; how many."""
        return data_capture.flush()

    def client(self, service: str, *, region: str = "us-east-1", access_key: str = "AKIASTANDINCLIENT000"):
        """A boto3 client of ``service`` on this stand-in, as another tool than the portal
        would make it (tests use it to write "upstream" and to read what the portal did)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key="stand-in-secret",  # noqa: S106 - the stand-in checks no signature
        )

    def throttle(self, calls: int) -> None:
        self.faults.throttle(calls)

    def reset(self) -> None:
        _post(self.url, "/moto-api/reset", {})

    def __enter__(self) -> AwsStandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _post(url: str, path: str, payload: dict) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own stand-in's URL
        url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own stand-in's URL
        return response.status


def create_bucket(url: str, bucket: str) -> None:
    """Create an S3 bucket in the stand-in (moto answers 200 if it exists)."""
    request = urllib.request.Request(f"{url}/{bucket}", method="PUT")  # noqa: S310 - our own stand-in's URL
    request.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=sandbox/20260101/us-east-1/s3/aws4_request")
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - our own stand-in's URL


def seed_costs(url: str, results: list[dict[str, Any]], account_id: str = "123456789012") -> None:
    """Queue GetCostAndUsage answers (each a full response: ResultsByTime, ...)."""
    _post(url, "/moto-api/static/ce/cost-and-usage-results", {"account_id": account_id, "results": results})


def seed_invocations(url: str, results: list[dict[str, Any]], region: str = "us-east-1") -> None:
    """Queue InvokeEndpoint answers: ``{"Body": str, "ContentType": str, "InvokedProductionVariant": str}``."""
    _post(url, "/moto-api/static/sagemaker/endpoint-results", {"region": region, "results": results})
