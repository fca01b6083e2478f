"""The local model server: ``python -m apps.backends.local.serving STATE_DIR``.

One process per endpoint, in its own process group (started by
``endpoints.EndpointManager``). It reads ``STATE_DIR/state.json`` (variants,
traffic weights, a ``generation`` counter), loads each variant's registered
model version from MLflow (``models:/<name>/<version>``), binds 127.0.0.1 on a
free port and then writes ``STATE_DIR/server.json`` (its pid and port), or
``{"error": ...}`` if a model could not be loaded.

Every request re-reads ``state.json`` (a few hundred bytes) and applies a new
generation before it is answered, so a traffic change or a rollback written
by any worker takes effect on the very next request. Models a new generation
needs are loaded then; if one cannot be loaded the server keeps serving the
generation it has and reports the error on ``/health``.

HTTP:
  ``GET /health`` (or ``/ping``): ``{"status": "ok", "generation", "weights", "error"}``
  ``POST /invocations``: MLflow's scoring payloads (``{"dataframe_records": [...]}``,
  ``{"dataframe_split": {...}}``, ``{"inputs": ...}``, ``{"instances": ...}``, optional
  ``"params"``) -> ``{"predictions": [...], "variant": name}``. A variant is picked
  at random by weight; the ``X-Atrium-Variant`` header picks one explicitly (as
  SageMaker's ``TargetVariant`` does), for tests and shadow checks.

The server exits by itself when ``state.json`` disappears (the endpoint was
deleted while it was unreachable), so it never outlives its endpoint.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VARIANT_HEADER = "X-Atrium-Variant"
MAX_BODY = 50 * 1024 * 1024
WATCH_INTERVAL = 1.0
USAGE_DIR = "_usage"  # below the jobs folder: model servers' running time, for costs
USAGE_WRITE_SECONDS = 30.0


class BadRequest(Exception):
    pass


class Router:
    """The models of the current generation and their weights."""

    def __init__(self, state_dir: Path):
        self.state_path = state_dir / "state.json"
        self.lock = threading.Lock()
        self.models: dict[tuple[str, str], object] = {}  # (model name, version) -> loaded pyfunc model
        self.generation = None
        self.variants: dict[str, tuple[str, str]] = {}  # variant name -> (model name, version)
        self.weights: dict[str, int] = {}
        self.error = ""
        self.random = random.Random()

    def refresh(self) -> None:
        """Apply ``state.json`` if its generation is not the one being served."""
        state = json.loads(self.state_path.read_text())
        if state["generation"] == self.generation:
            return
        with self.lock:
            if state["generation"] == self.generation:
                return
            variants = {v["name"]: (v["model"]["name"], str(v["model"]["version"])) for v in state["variants"]}
            try:
                for ref in variants.values():
                    if ref not in self.models:
                        self.models[ref] = load_model(*ref)
            except Exception as exc:
                if self.generation is None:
                    raise  # nothing to fall back on: the server fails to start
                self.error = f"Generation {state['generation']} not applied: {type(exc).__name__}: {exc}"
                print(self.error, flush=True)
                return
            in_use = set(variants.values())
            self.models = {ref: model for ref, model in self.models.items() if ref in in_use}
            self.variants, self.weights = variants, dict(state["weights"])
            self.generation, self.error = state["generation"], ""
            print(f"Serving generation {self.generation}: weights {self.weights}", flush=True)

    def choose(self, wanted: str | None = None) -> tuple[str, object]:
        with self.lock:
            if wanted:
                if wanted not in self.variants:
                    raise BadRequest(f"No variant {wanted!r} (variants: {', '.join(self.variants)}).")
                name = wanted
            else:
                names = [n for n in self.variants if self.weights.get(n, 0) > 0]
                if not names:
                    raise BadRequest("No variant receives traffic.")
                name = self.random.choices(names, weights=[self.weights[n] for n in names])[0]
            return name, self.models[self.variants[name]]

    def health(self) -> dict:
        with self.lock:
            return {"status": "ok", "generation": self.generation, "weights": self.weights, "error": self.error}


def load_model(name: str, version: str):
    import mlflow.pyfunc

    print(f"Loading models:/{name}/{version}", flush=True)
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}")


def predict(model, payload: dict):
    """The model's raw predictions, the payload parsed as MLflow's scoring server does."""
    from mlflow.exceptions import MlflowException

    from apps.backends.jobs.payloads import PayloadError, payload_frame

    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
    params = payload.get("params")
    data = {k: v for k, v in payload.items() if k != "params"}
    try:
        parsed = payload_frame(data, schema=model.metadata.get_input_schema())
        return model.predict(parsed, params=params) if params else model.predict(parsed)
    except PayloadError as exc:
        raise BadRequest(str(exc))
    except MlflowException as exc:  # the model's schema enforcement
        raise BadRequest(exc.message)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadRequest(f"{type(exc).__name__}: {exc}")


def make_handler(router: Router):
    from mlflow.pyfunc.scoring_server import predictions_to_json

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, a keep-alive
        # client's delayed ACK holds the body back ~40 ms per response.
        disable_nagle_algorithm = True

        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path.split("?")[0] not in ("/health", "/ping"):
                return self._send(HTTPStatus.NOT_FOUND, {"message": f"No route {self.path}"})
            try:
                router.refresh()
            except Exception as exc:  # state.json mid-delete: report, do not die
                return self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"message": str(exc)})
            self._send(HTTPStatus.OK, router.health())

        def do_POST(self):  # noqa: N802
            if self.path.split("?")[0] != "/invocations":
                return self._send(HTTPStatus.NOT_FOUND, {"message": f"No route {self.path}"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise BadRequest(f"The request body is larger than {MAX_BODY} bytes.")
                try:
                    payload = json.loads(self.rfile.read(length) or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise BadRequest(f"The request body is not valid JSON: {exc}")
                router.refresh()
                variant, model = router.choose(self.headers.get(VARIANT_HEADER))
                output = io.StringIO()
                predictions_to_json(predict(model, payload), output, metadata={"variant": variant})
            except BadRequest as exc:
                return self._send(HTTPStatus.BAD_REQUEST, {"error_code": "BAD_REQUEST", "message": str(exc)})
            except Exception as exc:
                traceback.print_exc()
                return self._send(
                    HTTPStatus.INTERNAL_SERVER_ERROR, {"error_code": "INTERNAL_ERROR", "message": str(exc)}
                )
            self._send(HTTPStatus.OK, output.getvalue())

        def _send(self, status: HTTPStatus, body: dict | str):
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # noqa: A002
            pass  # one line per request would drown the log; errors are printed where they happen

    return Handler


def write_server_file(state_dir: Path, payload: dict) -> None:
    tmp = state_dir / f".server.json.{os.getpid()}.{threading.get_ident()}.tmp"  # one per writer
    tmp.write_text(json.dumps({"pid": os.getpid(), "updated": time.time(), **payload}))
    tmp.replace(state_dir / "server.json")


def watch(state_dir: Path, server: ThreadingHTTPServer) -> None:
    meter = UsageMeter(state_dir)
    while (state_dir / "state.json").exists():
        time.sleep(WATCH_INTERVAL)
        meter.tick()
    meter.tick(final=True)
    print("state.json is gone: the endpoint was deleted; exiting", flush=True)
    os._exit(0)


class UsageMeter:
    """How long this model server ran, per UTC day, for its bill (``costs.local_costs``):
    ``<jobs dir>/_usage/<endpoint>-<pid>-<start>.json`` with the endpoint's tags and the
    GPUs it holds, written every ``USAGE_WRITE_SECONDS`` and at exit. A file per process,
    kept after the endpoint is deleted: its days stay billed."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.started = self.last = time.time()
        name = f"{state_dir.name}-{os.getpid()}-{int(self.started)}.json"
        self.path = state_dir.parent.parent / USAGE_DIR / name
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        self.gpus = len([d for d in gpus.split(",") if d.strip()])
        self.days: dict[str, float] = {}
        self.tags: dict[str, str] = {}
        self.written = 0.0

    def tick(self, *, final: bool = False) -> None:
        now = time.time()
        at, self.last = self.last, now
        while at < now:  # the seconds since the last tick, split at midnight UTC
            day = datetime.fromtimestamp(at, UTC)
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + 86400
            until = min(now, midnight)
            key = day.strftime("%Y-%m-%d")
            self.days[key] = self.days.get(key, 0.0) + (until - at)
            at = until
        if final or now - self.written >= USAGE_WRITE_SECONDS:
            self.write()

    def write(self) -> None:
        try:
            state = json.loads((self.state_dir / "state.json").read_text())
            self.tags = {str(k): str(v) for k, v in (state.get("tags") or {}).items()}
        except (OSError, ValueError):  # deleted: the tags it had
            pass
        record = {"endpoint": self.state_dir.name, "gpus": self.gpus, "tags": self.tags, "days": self.days}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.path)
        self.written = time.time()


def main(state_dir: str) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)  # keep the server log readable
    folder = Path(state_dir)
    router = Router(folder)
    try:
        router.refresh()
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(f"Failed to load the models: {message}", flush=True)
        write_server_file(folder, {"error": message})
        return 1
    ThreadingHTTPServer.request_queue_size = 128  # clients connecting at once (a gateway's pool) are not reset
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(router))
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=watch, args=(folder, server), daemon=True).start()
    write_server_file(folder, {"port": port})
    print(f"Serving on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
