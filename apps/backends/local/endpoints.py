"""Local endpoints: one model server process per endpoint (``serving.py``).

Everything about an endpoint is in ``<jobs_dir>/_endpoints/<name>/`` ("_"
never starts a job key, so it cannot clash with a training job), readable by
any worker process:

- ``state.json`` (written here): the variants (registered model versions),
  the traffic weights, a ``history`` of earlier configurations for rollback,
  and a ``generation`` counter the server compares with what it serves;
- ``server.json`` (written by the server): its port once the models are
  loaded, or the error that stopped it;
- ``pid``: pid and start time of the server, as for training jobs, so a
  recycled pid is never mistaken for it; ``server.log``: its output.

The server re-reads ``state.json`` on every request, so traffic changes and
rollbacks need no restart and apply from the next request on. Deploying is
idempotent by name: the same spec again starts nothing; a different spec
updates the running server in place (the old configuration goes to the
history); a server that died is started again. ``rollout`` is recorded but
a local server applies a configuration at once: the portal runs a canary as
a series of ``update_traffic`` calls.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..base import (
    BackendError,
    EndpointDetails,
    EndpointSpec,
    EndpointStatus,
    EndpointSummary,
    EndpointVariant,
    ModelRef,
    Upstream,
)
from . import gpu, processes
from .processes import SAFE_KEY
from .registry import LocalRegistry
from .serving import VARIANT_HEADER

HEALTH_TIMEOUT = 2.0
INVOKE_TIMEOUT = 60.0
HISTORY_LIMIT = 20


class EndpointManager:
    def __init__(self, *, jobs_dir: Path, tracking_uri: str, python: str):
        self.root = Path(jobs_dir) / "_endpoints"
        self.tracking_uri = tracking_uri
        self.python = python

    # --- the Backend operations ------------------------------------------------

    def deploy(self, spec: EndpointSpec) -> str:
        folder = self._folder(spec.name)
        variants = [_variant_dict(v) for v in spec.variants]
        names = [v["name"] for v in variants]
        if not variants:
            raise BackendError(f"Endpoint {spec.name} needs at least one variant.", permanent=True)
        if len(set(names)) != len(names):
            raise BackendError(f"Variant names must be unique (got {', '.join(names)}).", permanent=True)
        for name in names:
            if not SAFE_KEY.match(name):
                raise BackendError(f"Invalid variant name {name!r}.", permanent=True)
        if len(spec.variants) == 1:
            weights = {names[0]: 100}  # one variant takes all the traffic, whatever its weight says
        else:
            weights = _valid_weights({v.name: v.weight for v in spec.variants}, names, spec.name)
        if any(v.instance_type == gpu.GPU_TYPE for v in spec.variants) and not gpu.visible_gpus():
            raise BackendError(gpu.NO_GPU, permanent=True)
        registry = LocalRegistry(self.tracking_uri)
        for variant in spec.variants:  # a clear error now rather than a server that fails to start
            registry.check_model_version(ModelRef(variant.model.name, str(variant.model.version)))
        devices = gpu.server_environment([v.instance_type for v in spec.variants])

        folder.mkdir(parents=True, exist_ok=True)
        with self._lock(spec.name):
            state = processes.read_json(folder / "state.json")
            config = {"variants": variants, "weights": weights}
            process = processes.find(folder)
            if process is not None and state.get("devices", gpu.server_environment([])) != devices:
                # A process sees the GPUs it was started with: a variant joining or leaving
                # a GPU starts the server again (its clients wait for it, as after a crash).
                processes.stop(process)
                process = None
            running = process is not None
            if state and _config(state) == config:
                if running:
                    return spec.name  # already deployed: start nothing
            elif state:
                state["history"] = [*state.get("history", []), _config(state)][-HISTORY_LIMIT:]
            state = {
                "name": spec.name,
                "tracking_uri": self.tracking_uri,
                "rollout": spec.rollout,
                "tags": spec.tags,
                "history": state.get("history", []),
                "generation": state.get("generation", 0) + 1,
                "devices": devices,
                "created": state.get("created", time.time()),
                "updated": time.time(),
                **config,
            }
            processes.write_json(folder / "state.json", state)
            if not running:
                self._start(folder, devices)
        return spec.name

    def get(self, name: str) -> EndpointStatus:
        folder = self._folder(name)
        state = processes.read_json(folder / "state.json")
        if not state:
            raise BackendError(f"No local endpoint {name}.", permanent=True)
        weights = state["weights"]
        server = processes.read_json(folder / "server.json")
        if server.get("error"):
            return EndpointStatus(name, "failed", weights, f"The model server failed: {server['error']}")
        if processes.find(folder) is None:
            # re-read: the server may have written its error just before exiting
            server = processes.read_json(folder / "server.json")
            if server.get("error"):
                return EndpointStatus(name, "failed", weights, f"The model server failed: {server['error']}")
            return EndpointStatus(name, "failed", weights, _exit_message(folder / "server.log"))
        if not server.get("port"):
            return EndpointStatus(name, "creating", weights, "Loading the models")
        health = self._health(server["port"])
        if health is None:  # busy loading the models of a new configuration
            return EndpointStatus(name, "updating", weights, "Waiting for the model server to answer")
        if health.get("generation") != state["generation"]:
            if health.get("error"):
                return EndpointStatus(name, "failed", weights, health["error"])
            return EndpointStatus(name, "updating", weights, "Applying the new configuration")
        return EndpointStatus(name, "in_service", weights, f"Serving on http://127.0.0.1:{server['port']}")

    def update_traffic(self, name: str, weights: dict[str, int]) -> None:
        folder = self._existing(name)
        with self._lock(name):
            state = self._state(folder, name)
            names = [v["name"] for v in state["variants"]]
            new = _valid_weights(weights, names, name)
            if new == state["weights"]:
                return
            self._apply(folder, state, {"variants": state["variants"], "weights": new})

    def rollback(self, name: str) -> None:
        folder = self._existing(name)
        with self._lock(name):
            state = self._state(folder, name)
            if not state.get("history"):
                raise BackendError(f"Endpoint {name} has no earlier configuration to roll back to.", permanent=True)
            previous = state["history"].pop()
            self._apply(folder, state, previous, keep_history=False)

    def delete(self, name: str) -> None:
        """Stop the server and remove the endpoint; deleting nothing is not an error."""
        folder = self._folder(name)
        if not folder.exists():
            return
        with self._lock(name):
            process = processes.find(folder)
            if process is not None:
                processes.stop(process)
            shutil.rmtree(folder, ignore_errors=True)

    def invoke(self, name: str, payload: dict[str, Any], *, variant: str | None = None) -> dict[str, Any]:
        import requests

        if not isinstance(payload, dict):
            raise BackendError("The payload must be a JSON object.", permanent=True)
        folder = self._existing(name)
        port = processes.read_json(folder / "server.json").get("port")
        if not port:
            raise BackendError(f"Endpoint {name} is not in service yet.", permanent=False)
        headers = {VARIANT_HEADER: variant} if variant else {}
        try:
            response = requests.post(
                f"http://127.0.0.1:{port}/invocations", json=payload, headers=headers, timeout=INVOKE_TIMEOUT
            )
        except requests.RequestException as exc:
            if processes.find(folder) is None:
                raise BackendError(f"Endpoint {name} is not running: deploy it again.", permanent=True)
            raise BackendError(f"Invoking endpoint {name} failed: {exc}", permanent=False)
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:500]}
        if response.status_code >= 400:
            message = f"Endpoint {name} rejected the request: {body.get('message', response.reason)}"
            raise BackendError(message, permanent=response.status_code < 500)
        return body

    def invocation_target(self, name: str, variant: str | None = None) -> Upstream:
        """The model server's address (it may move when the server restarts: the
        gateway asks again after a connection error)."""
        port = processes.read_json(self._existing(name) / "server.json").get("port")
        if not port:
            raise BackendError(f"Endpoint {name} is not in service yet.", permanent=False)
        headers = {VARIANT_HEADER: variant} if variant else {}
        return Upstream(url=f"http://127.0.0.1:{port}/invocations", headers=headers, ttl=60.0)

    def list(self) -> list[EndpointSummary]:
        """Every local endpoint, whoever deployed it; a generation counts every change of its configuration."""
        found = []
        for folder in sorted(self.root.glob("*/state.json")) if self.root.is_dir() else []:
            name = folder.parent.name
            try:
                status = self.get(name)
            except BackendError:  # deleted meanwhile
                continue
            generation = processes.read_json(folder).get("generation", 0)
            found.append(EndpointSummary(name=name, state=status.state, fingerprint=f"{generation}:{status.state}"))
        return found

    def details(self, name: str) -> EndpointDetails:
        state = self._state(self._existing(name), name)
        status = self.get(name)
        weights = state.get("weights") or {}
        variants = [
            EndpointVariant(
                name=v["name"],
                model=ModelRef(v["model"]["name"], str(v["model"]["version"])),
                instance_type=v.get("instance_type", ""),
                instance_count=int(v.get("instance_count", 1)),
                weight=int(weights.get(v["name"], 0)),
            )
            for v in state.get("variants", [])
        ]
        tags = {str(k): str(v) for k, v in (state.get("tags") or {}).items()}
        return EndpointDetails(name=name, state=status.state, variants=variants, tags=tags, message=status.message)

    # --- helpers ---------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        if not isinstance(name, str) or not SAFE_KEY.match(name):
            raise BackendError(f"Invalid endpoint name {name!r}.", permanent=True)
        return self.root / name

    def _existing(self, name: str) -> Path:
        folder = self._folder(name)
        if not (folder / "state.json").exists():
            raise BackendError(f"No local endpoint {name}.", permanent=True)
        return folder

    def _state(self, folder: Path, name: str) -> dict:
        state = processes.read_json(folder / "state.json")
        if not state:
            raise BackendError(f"No local endpoint {name}.", permanent=True)
        return state

    def _lock(self, name: str):
        self.root.mkdir(parents=True, exist_ok=True)
        return processes.locked(self.root / f".{name}.lock")  # beside the folder: delete removes the folder

    def _apply(self, folder: Path, state: dict, config: dict, *, keep_history: bool = True) -> None:
        if keep_history:
            state["history"] = [*state.get("history", []), _config(state)][-HISTORY_LIMIT:]
        state.update(config, generation=state["generation"] + 1, updated=time.time())
        processes.write_json(folder / "state.json", state)

    def _start(self, folder: Path, devices: dict[str, str]) -> None:
        (folder / "server.json").unlink(missing_ok=True)
        processes.spawn(
            python=self.python,
            module="apps.backends.local.serving",
            folder=folder,
            log_name="server.log",
            tracking_uri=self.tracking_uri,
            env=devices,
        )

    @staticmethod
    def _health(port: int) -> dict | None:
        import requests

        try:
            response = requests.get(f"http://127.0.0.1:{port}/health", timeout=HEALTH_TIMEOUT)
        except requests.RequestException:
            return None
        return response.json() if response.ok else None


def _variant_dict(variant) -> dict:
    data = asdict(variant)
    data.pop("weight")
    data["model"]["version"] = str(data["model"]["version"])
    return data


def _config(state: dict) -> dict:
    return {"variants": state["variants"], "weights": state["weights"]}


def _valid_weights(weights: dict, names: list[str], endpoint: str) -> dict[str, int]:
    """Weights for every variant (missing ones get 0), or a permanent error saying what is wrong."""
    if not isinstance(weights, dict) or not weights:
        raise BackendError(f"Traffic weights for {endpoint} must map variant names to integers.", permanent=True)
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise BackendError(
            f"Endpoint {endpoint} has no variant {', '.join(unknown)} (variants: {', '.join(names)}).", permanent=True
        )
    for variant, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise BackendError(
                f"The weight of {variant} must be a non-negative integer (got {weight!r}).", permanent=True
            )
    total = sum(weights.values())
    if total != 100:
        raise BackendError(
            f"Traffic weights for {endpoint} must add up to 100 (they add up to {total}).", permanent=True
        )
    return {name: weights.get(name, 0) for name in names}


def _exit_message(log_path: Path) -> str:
    try:
        with open(log_path, "rb") as handle:
            handle.seek(max(0, log_path.stat().st_size - 4096))
            tail = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        tail = ""
    last = next((line for line in reversed(tail.splitlines()) if line.strip()), "")
    reason = "The model server exited unexpectedly"
    return f"{reason}: {last}" if last else reason + "."
