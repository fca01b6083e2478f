"""The inference gateway against direct calls to the model server, in the same run.

    .venv/bin/python bench/gateway.py [--clients 32] [--requests 3000] [--rounds 2]

Trains a tiny scikit-learn model, logs and registers it in an MLflow server
(SQLite store in a temp folder), deploys it on the local backend (one model
server process), makes the portal's endpoint row and a key, and starts the
gateway as ``make run`` does (``bin/gateway``: uvicorn, uvloop, httptools)
with 100% capture. Then ``--clients`` threads, each with one kept-alive
connection, send ``--requests`` scoring requests directly to the model server,
then the same through the gateway, alternating for ``--rounds`` rounds (so
drift in the machine's load hits both alike), and print p50 / p95 / p99 and
requests per second of each, and the gateway's overhead.

Those clients send as fast as answers come, so both modes run the 2-core
machine flat out, and the gateway's own CPU (~1 ms a request, most of it in
socket calls) queues every request behind it: that is the "saturated" figure.
Then the same 32 clients send at a fixed total rate (``--rate``, by default
half of what the model server managed directly), timed from when each request
was due (so a late send counts against the mode that made it late): the
overhead a client sees when the machine is not the bottleneck. Finally the gateway
is stopped (SIGTERM: it flushes) and the captured Parquet rows are counted
against the acknowledged requests.

Not a test: it asserts nothing.
"""

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import ROOT, free_port, setup_django

BODY = json.dumps({"dataframe_records": [{"x1": 0.3, "x2": 0.4}, {"x1": 0.9, "x2": 1.1}]}).encode()


def wait_http(host: str, port: int, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(host, port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"nothing answered on {host}:{port}{path}")


def start_mlflow(scratch: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", f"sqlite:///{scratch}/mlflow.db", "--artifacts-destination", f"{scratch}/artifacts"]
        + ["--workers", "1"],
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_http("127.0.0.1", port, "/health")
    return process, f"http://127.0.0.1:{port}"


def deploy(tracking_uri: str) -> str:
    """Train, log, register and serve the model; the model server's port."""
    import mlflow
    import pandas as pd
    from django.conf import settings
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from apps.backends.base import EndpointSpec, EndpointVariant, ModelRef
    from apps.backends.local import processes
    from apps.backends.local.backend import LocalBackend

    frame = pd.DataFrame({"x1": [0.0, 0.1, 1.0, 1.1], "x2": [0.0, 0.2, 1.0, 0.9]})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name="bench-tiny", signature=infer_signature(frame, [0, 0, 1, 1])
        )
    backend = LocalBackend(jobs_dir=settings.LOCAL_JOBS_DIR, tracking_uri=tracking_uri, data_root=settings.DATA_ROOT)
    version = ModelRef("bench-tiny", str(info.registered_model_version))
    backend.deploy_endpoint(EndpointSpec("bench", [EndpointVariant("a", version, "local")]))
    deadline = time.monotonic() + 120
    while backend.get_endpoint("bench").state != "in_service":
        if time.monotonic() > deadline:
            raise SystemExit(backend.get_endpoint("bench").message)
        time.sleep(0.5)
    return processes.read_json(Path(settings.LOCAL_JOBS_DIR) / "_endpoints" / "bench" / "server.json")["port"]


def seed_key() -> str:
    from apps.accounts.models import Role
    from apps.accounts.services import team_get_or_create, user_create
    from apps.deployments.models import Endpoint, EndpointState, Variant
    from apps.gateway.services import api_key_create

    team = team_get_or_create(name="Bench")
    user = user_create(username="bench-ds", password="bench-pw-123", role=Role.DATA_SCIENTIST, teams=[team])
    endpoint = Endpoint.objects.create(
        team=team, backend="local", source="local", name="bench", state=EndpointState.IN_SERVICE, weights={"a": 100}
    )
    Variant.objects.create(endpoint=endpoint, name="a", model_name="bench-tiny", model_version="1")
    return api_key_create(user=user, endpoint=endpoint, consumer="bench", rate_limit_per_minute=1_000_000)[1]


def run_load(
    port: int, path: str, headers: dict, clients: int, total: int, rate: float | None = None
) -> tuple[list[float], float, list[str]]:
    """(milliseconds per request, requests per second, event ids of acknowledged answers); with
    ``rate``, the clients together send that many requests a second, each timed from when it was due."""
    timings: list[float] = []
    events: list[str] = []
    lock = threading.Lock()
    per_client = total // clients

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, acknowledged = [], []
        interval = clients / rate if rate else 0.0
        due = time.perf_counter() + random.random() * interval  # clients spread over the first interval
        for _ in range(per_client):
            if rate:
                time.sleep(max(0.0, due - time.perf_counter()))
                start, due = due, due + interval
            else:
                start = time.perf_counter()
            try:
                connection.request("POST", path, body=BODY, headers={"Content-Type": "application/json", **headers})
                response = connection.getresponse()
                response.read()
            except OSError:
                connection.close()  # reconnects on the next request; the failure is timed and not acknowledged
                mine.append((time.perf_counter() - start) * 1000)
                continue
            mine.append((time.perf_counter() - start) * 1000)
            if response.status == 200 and (event := response.getheader("X-Atrium-Event-Id")):
                acknowledged.append(event)
        connection.close()
        with lock:
            timings.extend(mine)
            events.extend(acknowledged)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, len(timings) / (time.perf_counter() - started), events


def figures(name: str, timings: list[float], rps: float) -> tuple[float, float]:
    q = statistics.quantiles(timings, n=100)
    print(f"{name:<36} n={len(timings):<6} p50={q[49]:6.2f} ms  p95={q[94]:6.2f} ms  p99={q[98]:6.2f} ms", end="")
    print(f"  {rps:6.0f} req/s")
    return q[49], q[94]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000, help="per mode and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--capture", type=float, default=1.0, help="share captured (1: all; 0 to see capture's cost)")
    parser.add_argument("--rate", type=float, default=0, help="requests/s of the paced runs (0: half the direct rate)")
    args = parser.parse_args()

    scratch = setup_django()
    mlflow_process, tracking_uri = start_mlflow(scratch)
    gateway = None
    try:
        model_port = deploy(tracking_uri)
        key = seed_key()
        gateway_port = free_port()
        capture_root = Path(scratch) / "capture"
        env = {
            **os.environ,
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_CAPTURE_ROOT": str(capture_root),
            "GATEWAY_CAPTURE_SAMPLE": str(args.capture),
            "MLFLOW_TRACKING_URI": tracking_uri,
        }
        gateway = subprocess.Popen([str(ROOT / "bin" / "gateway")], cwd=ROOT, env=env, start_new_session=True)
        wait_http("127.0.0.1", gateway_port, "/health")

        direct = ("model server, direct", model_port, "/invocations", {})
        through = ("through the gateway", gateway_port, "/serve/bench/invocations", {"Authorization": f"Bearer {key}"})
        acknowledged: list[str] = []
        for _, port, path, headers in (direct, through):  # warm up: connections, caches, the model
            acknowledged += run_load(port, path, headers, args.clients, args.clients * 10)[2]
        results = {direct[0]: ([], []), through[0]: ([], [])}
        for _ in range(args.rounds):
            for name, port, path, headers in (direct, through):
                timings, rps, events = run_load(port, path, headers, args.clients, args.requests)
                results[name][0].extend(timings)
                results[name][1].append(rps)
                acknowledged += events if name == through[0] else []

        rate = args.rate or statistics.mean(results[direct[0]][1]) / 2
        paced = {direct[0]: ([], []), through[0]: ([], [])}
        for _ in range(args.rounds):
            for name, port, path, headers in (direct, through):
                timings, rps, events = run_load(port, path, headers, args.clients, args.requests, rate)
                paced[name][0].extend(timings)
                paced[name][1].append(rps)
                acknowledged += events if name == through[0] else []

        label = through[0] + f" ({args.capture:.0%} capture)"
        for title, table in (("as fast as answers come (saturated)", results), (f"at {rate:.0f} req/s", paced)):
            print(f"\n{args.clients} concurrent clients {title}, {args.rounds} rounds of {args.requests} per mode")
            base = figures(direct[0], table[direct[0]][0], statistics.mean(table[direct[0]][1]))
            gate = figures(label, table[through[0]][0], statistics.mean(table[through[0]][1]))
            print(f"{'gateway overhead':<36} p50 {gate[0] - base[0]:+.2f} ms  p95 {gate[1] - base[1]:+.2f} ms")

        gateway.send_signal(signal.SIGTERM)  # a graceful stop flushes capture and telemetry
        gateway.wait(60)
        gateway = None
        import pyarrow.dataset as pads

        captured = []
        if capture_root.exists():  # nothing captured at all with --capture 0
            dataset = pads.dataset(str(capture_root), format="parquet", partitioning="hive")
            captured = dataset.to_table(columns=["event_id"]).column("event_id").to_pylist()
        missing = len(set(acknowledged) - set(captured))
        duplicates = len(captured) - len(set(captured))
        print(
            f"capture: {len(acknowledged)} acknowledged, {len(captured)} rows captured, "
            f"{missing} acknowledged missing, {duplicates} duplicates"
        )
        from django.db.models import Sum

        from apps.deployments.models import EndpointMinute

        sums = EndpointMinute.objects.aggregate(
            n=Sum("requests"), total=Sum("latency_ms_sum"), model=Sum("model_latency_ms_sum")
        )
        inside = (sums["total"] - sums["model"]) / sums["n"]
        print(
            f"telemetry: {sums['n']} requests in the per-minute rollups; time inside the gateway {inside:.2f} ms mean"
        )
    finally:
        if gateway is not None:
            gateway.kill()
        from django.conf import settings

        from apps.backends.local.backend import LocalBackend

        LocalBackend(
            jobs_dir=settings.LOCAL_JOBS_DIR, tracking_uri=tracking_uri, data_root=settings.DATA_ROOT
        ).delete_endpoint("bench")
        os.killpg(mlflow_process.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
