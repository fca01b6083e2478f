"""The local backend: training in a subprocess on this machine, tracked and
registered in MLflow. Endpoints are local model servers (``endpoints.py``,
``serving.py``), the registry is MLflow's (``registry.py``), a workspace is an
MLflow experiment and a data folder (``provisioning.py``), and costs are the
CPU-hours of training at an operator-set rate (``costs.py``)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..base import (
    BackendError,
    BatchSpec,
    CostRecord,
    EndpointDetails,
    EndpointSpec,
    EndpointStatus,
    EndpointSummary,
    HourlyPrice,
    JobState,
    JobStatus,
    Link,
    LoadedModel,
    ModelRef,
    ModelVersionDetails,
    ModelVersionInfo,
    RegisteredModelInfo,
    ResourceSpec,
    TrainingSpec,
    TuningSpec,
    Upstream,
)
from . import admission, processes
from .processes import SAFE_KEY

CANCEL_GRACE_SECONDS = 5.0


class _DeployTargets:
    """``deploy_targets``, read on the class too (the deploy form and the API check a
    target before any backend is made): "gpu" only where nvidia-smi lists a GPU."""

    def __get__(self, instance, owner) -> tuple[str, ...]:
        from . import gpu

        return ("cpu", "gpu") if gpu.visible_gpus() else ("cpu",)


class LocalBackend:
    kind = "local"
    deploy_targets = _DeployTargets()  # model servers on this machine: its CPU, and its CUDA GPUs if any
    data_prefixes: tuple[str, ...] = ()  # files below its data folder only

    connection_settings = ()  # the machine itself: nothing to connect to

    def __init__(
        self,
        *,
        jobs_dir: Path,
        tracking_uri: str,
        data_root: Path,
        python: str = sys.executable,
        ui_url: str = "",
        max_jobs: int = 0,
        cpu_hour_rate: float = 0.0,
        gpu_hour_rate: float = 0.0,
    ):
        self.jobs_dir = Path(jobs_dir)
        self.max_jobs = max_jobs or os.cpu_count() or 1  # jobs at a time on this machine (admission.py)
        self.tracking_uri = tracking_uri
        self.data_root = Path(data_root)
        self.python = python
        self.ui_url = ui_url.rstrip("/")  # where people browse MLflow ("" when nowhere)
        # The operator's prices of this machine (costs.py): 0.0, local compute is free.
        self.cpu_hour_rate = cpu_hour_rate
        self.gpu_hour_rate = gpu_hour_rate

    @classmethod
    def from_settings(cls) -> LocalBackend:
        from django.conf import settings

        return cls(
            jobs_dir=settings.LOCAL_JOBS_DIR,
            tracking_uri=settings.MLFLOW_TRACKING_URI,
            data_root=settings.DATA_ROOT,
            ui_url=settings.MLFLOW_UI_URL,
            max_jobs=settings.LOCAL_MAX_JOBS,
            cpu_hour_rate=settings.LOCAL_CPU_HOUR_RATE,
            gpu_hour_rate=settings.LOCAL_GPU_HOUR_RATE,
        )

    # --- training --------------------------------------------------------------

    def submit_training(self, spec: TrainingSpec) -> str:
        return self._submit(spec, module="apps.backends.jobs.train_job")

    def _submit(self, spec, *, module: str) -> str:
        """Start the job ``module`` for ``spec`` unless its key already has one,
        when its turn comes (at most ``max_jobs`` at a time; NotReady until then)."""
        job_dir = self._job_dir(spec.key)
        job_dir.mkdir(parents=True, exist_ok=True)
        with processes.locked(job_dir / ".lock"):
            state = self._read_status(job_dir).get("state")
            if self._process_alive(job_dir) or state in {"succeeded", "cancelled"}:
                return spec.key  # already submitted: a redelivered task creates nothing new
            if (job_dir / "cancelled").exists():
                return spec.key  # cancelled (before its turn, or while it ran): never started again

            def start():
                self._write_spec(job_dir, spec)
                self._start(job_dir, module)

            admission.admit(
                jobs_dir=self.jobs_dir,
                key=spec.key,
                team=str(spec.tags.get("team", "")),
                max_jobs=self.max_jobs,
                start=start,
            )
        return spec.key

    def poll_training(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        job_dir = self._job_dir(external_id)
        if not job_dir.is_dir():
            raise BackendError(f"No local job {external_id}.", permanent=True)
        status = self._read_status(job_dir)
        logs, cursor = _read_lines(job_dir / "log.txt", log_cursor)
        state = JobState(status.get("state", "pending"))
        message = status.get("message", "")
        if not state.is_terminal and not self._process_alive(job_dir):
            # Re-read: the job may have finished between the two reads.
            status = self._read_status(job_dir)
            state = JobState(status.get("state", "pending"))
            if not state.is_terminal:
                state = JobState.CANCELLED if (job_dir / "cancelled").exists() else JobState.FAILED
                message = "Cancelled" if state is JobState.CANCELLED else _exit_reason(logs)
        outputs = dict(status.get("outputs", {}))
        name, version = outputs.pop("model_name", None), outputs.pop("model_version", None)
        model = ModelRef(name=str(name), version=str(version)) if name and version else None
        return JobStatus(
            state=state,
            progress=float(status.get("progress", 0)),
            message=message,
            logs=logs,
            log_cursor=cursor,
            outputs=outputs,
            model=model,
            metrics={k: float(v) for k, v in (outputs.pop("metrics", None) or {}).items()},
            links=self._links(outputs, model),
        )

    def _links(self, outputs: dict, model: ModelRef | None) -> list[Link]:
        """MLflow's own pages of the job's run and the version it registered."""
        if not self.ui_url:
            return []
        links = []
        if outputs.get("experiment_id") and outputs.get("mlflow_run_id"):
            run_page = f"{self.ui_url}/#/experiments/{outputs['experiment_id']}/runs/{outputs['mlflow_run_id']}"
            links.append(Link("MLflow run", run_page))
        if model is not None:
            links.append(
                Link("MLflow model version", f"{self.ui_url}/#/models/{quote(model.name)}/versions/{model.version}")
            )
        return links

    def cancel_training(self, external_id: str) -> None:
        job_dir = self._job_dir(external_id)
        with processes.locked(job_dir / ".lock"):  # a submit in flight starts the job before this, or never
            (job_dir / "cancelled").touch()
            process = processes.find(job_dir)
        admission.leave(jobs_dir=self.jobs_dir, key=external_id)
        if process is not None:
            processes.stop(process, CANCEL_GRACE_SECONDS)

    def withdraw_job(self, key: str) -> bool:
        """A job still waiting for its turn (admission) never starts: True; False if it has started."""
        job_dir = self._job_dir(key)
        job_dir.mkdir(parents=True, exist_ok=True)
        with processes.locked(job_dir / ".lock"):
            if (job_dir / "spec.json").exists():  # written just before its process starts
                return False
            (job_dir / "cancelled").touch()
        admission.leave(jobs_dir=self.jobs_dir, key=key)
        return True

    # --- hyperparameter search and batch inference: jobs like training -------------

    def submit_tuning(self, spec: TuningSpec) -> str:
        return self._submit(spec, module="apps.backends.jobs.tune_job")

    def submit_batch(self, spec: BatchSpec) -> str:
        return self._submit(spec, module="apps.backends.jobs.batch_job")

    poll_tuning = poll_batch = poll_training
    cancel_tuning = cancel_batch = cancel_training

    # --- resources, endpoints, registry, costs -------------------------------------
    # (each in its own module, imported on first use: MLflow loads only when needed)

    cpu_hour_rate: float = 0.0  # price of a CPU-hour (training, a CPU model server); 0.0: free (costs.py)
    gpu_hour_rate: float = 0.0  # price of an hour of one GPU of a model server
    cost_currency: str = "USD"

    @cached_property
    def _provisioner(self):
        from .provisioning import LocalProvisioner

        return LocalProvisioner(jobs_dir=self.jobs_dir, data_root=self.data_root, tracking_uri=self.tracking_uri)

    @cached_property
    def _endpoints(self):
        from .endpoints import EndpointManager

        return EndpointManager(jobs_dir=self.jobs_dir, tracking_uri=self.tracking_uri, python=self.python)

    @cached_property
    def _registry(self):
        from .registry import LocalRegistry

        return LocalRegistry(self.tracking_uri)

    def check(self) -> list[dict]:
        """Read-only checks: MLflow answers, the jobs folder is writable, the data folder exists."""
        from .registry import LocalRegistry

        results = [LocalRegistry(self.tracking_uri).check()]
        jobs = self.jobs_dir if self.jobs_dir.exists() else self.jobs_dir.parent
        writable = jobs.is_dir() and os.access(jobs, os.W_OK | os.X_OK)
        results.append(
            {
                "check": "jobs folder",
                "ok": writable,
                "message": f"{self.jobs_dir} is {'' if writable else 'not '}writable",
            }
        )
        found = self.data_root.is_dir()
        results.append(
            {"check": "data folder", "ok": found, "message": f"{self.data_root} {'exists' if found else 'is missing'}"}
        )
        return results

    def provision(self, spec: ResourceSpec) -> str:
        return self._provisioner.provision(spec)

    def poll_provision(self, external_id: str) -> JobStatus:
        return self._provisioner.poll_provision(external_id)

    def teardown(self, external_id: str) -> None:
        self._provisioner.teardown(external_id)

    def instance_type_for(self, target: str) -> str:
        from . import gpu

        if target == "gpu" and target in self.deploy_targets:
            return gpu.GPU_TYPE
        if target not in self.deploy_targets:
            raise BackendError(self.missing_target(target), permanent=True)
        return gpu.CPU_TYPE

    @classmethod
    def missing_target(cls, target: str) -> str:
        """Why this machine has no ``target`` hardware (the 400 a deploy asking for it gets)."""
        from . import gpu

        if target == "gpu":
            return gpu.NO_GPU
        return (
            f"The local backend serves models on this machine's CPU (and CUDA GPUs); for {target}, use a SageMaker "
            "or Databricks connection."
        )

    def deploy_endpoint(self, spec: EndpointSpec) -> str:
        return self._endpoints.deploy(spec)

    def get_endpoint(self, name: str) -> EndpointStatus:
        return self._endpoints.get(name)

    def update_traffic(self, name: str, weights: dict[str, int]) -> None:
        self._endpoints.update_traffic(name, weights)

    def rollback_endpoint(self, name: str) -> None:
        self._endpoints.rollback(name)

    def delete_endpoint(self, name: str) -> None:
        self._endpoints.delete(name)

    def invoke(self, name: str, payload: dict[str, Any], *, variant: str | None = None) -> dict[str, Any]:
        """``variant`` sends the request to that variant, whatever the weights."""
        return self._endpoints.invoke(name, payload, variant=variant)

    def invocation_target(self, name: str, variant: str | None = None) -> Upstream:
        return self._endpoints.invocation_target(name, variant)

    def list_endpoints(self) -> list[EndpointSummary]:
        return self._endpoints.list()

    def endpoint_details(self, name: str) -> EndpointDetails:
        return self._endpoints.details(name)

    def list_model_versions(self, model_name: str) -> list[ModelVersionInfo]:
        return self._registry.list_model_versions(model_name)

    def set_alias(self, model: ModelRef, alias: str) -> None:
        self._registry.set_alias(model, alias)

    def set_approval_status(self, model: ModelRef, status: str) -> None:
        self._registry.set_approval_status(model, status)

    # registry mirror (apps/registry)
    def list_registered_models(self) -> list[RegisteredModelInfo]:
        return self._registry.list_registered_models()

    def model_version_details(self, model: ModelRef) -> ModelVersionDetails:
        return self._registry.model_version_details(model)

    def delete_alias(self, model_name: str, alias: str) -> None:
        self._registry.delete_alias(model_name, alias)

    def set_version_tag(self, model: ModelRef, key: str, value: str) -> None:
        self._registry.set_version_tag(model, key, value)

    def delete_version_tag(self, model: ModelRef, key: str) -> None:
        self._registry.delete_version_tag(model, key)

    # models scored in the portal's process (the evidence pack)
    @property
    def registry_key(self) -> str:
        return f"mlflow:{self.tracking_uri}"

    def load_model(self, model: ModelRef) -> LoadedModel:
        from .loading import load_model

        return load_model(self.tracking_uri, model)

    def score_request(self, model: LoadedModel, body: bytes, content_type: str) -> bytes:
        from .loading import score_request

        return score_request(model, body, content_type)

    def hosting_price(self, instance_type: str) -> HourlyPrice | None:
        """A local model server uses a CPU of this machine (or its GPUs): the operator's CPU-hour
        (GPU-hour) rate, ATRIUM_LOCAL_CPU_HOUR_RATE (_GPU_); 0.0: free."""
        from . import gpu

        if instance_type == gpu.GPU_TYPE:
            gpus = len(gpu.visible_gpus())
            return HourlyPrice(
                amount=self.gpu_hour_rate * max(gpus, 1),
                currency=self.cost_currency,
                source=f"the local backend's GPU-hour rate (ATRIUM_LOCAL_GPU_HOUR_RATE) × {max(gpus, 1)} GPU",
            )
        if instance_type != "local-cpu":
            return None
        return HourlyPrice(
            amount=self.cpu_hour_rate,
            currency=self.cost_currency,
            source="the local backend's CPU-hour rate (ATRIUM_LOCAL_CPU_HOUR_RATE)",
        )

    # MLflow's registry webhooks (not in the Protocol: only MLflow calls back)
    def ensure_registry_webhook(self, *, name: str, url: str, events: list[str], secret: str) -> str:
        return self._registry.ensure_webhook(name=name, url=url, events=events, secret=secret)

    def delete_registry_webhook(self, name: str) -> None:
        self._registry.delete_webhook(name)

    def get_costs(self, *, start: date, end: date, tags: dict[str, str] | None = None) -> list[CostRecord]:
        from .costs import local_costs

        return local_costs(
            self.jobs_dir,
            start=start,
            end=end,
            tags=tags,
            cpu_hour_rate=self.cpu_hour_rate,
            gpu_hour_rate=self.gpu_hour_rate,
            currency=self.cost_currency,
        )

    # --- helpers ---------------------------------------------------------------

    def _job_dir(self, key: str) -> Path:
        if not SAFE_KEY.match(key):
            raise BackendError(f"Invalid job key {key!r}.", permanent=True)
        return self.jobs_dir / key

    def _write_spec(self, job_dir: Path, spec) -> None:
        experiment = f"atrium-{spec.tags.get('team', 'default')}"
        payload = {
            **asdict(spec),
            "tracking_uri": self.tracking_uri,
            "data_root": str(self.data_root),
            "experiment": experiment,
        }
        (job_dir / "spec.json").write_text(json.dumps(payload))

    def _start(self, job_dir: Path, module: str) -> None:
        (job_dir / "status.json").unlink(missing_ok=True)
        processes.spawn(
            python=self.python,
            module=module,
            folder=job_dir,
            log_name="log.txt",
            tracking_uri=self.tracking_uri,
        )

    @staticmethod
    def _read_status(job_dir: Path) -> dict:
        return processes.read_json(job_dir / "status.json")

    def _process_alive(self, job_dir: Path) -> bool:
        return processes.find(job_dir) is not None


def _read_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines after byte ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read(1_000_000)
    except FileNotFoundError:
        return [], offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    lines = complete.decode("utf-8", errors="replace").splitlines()
    return lines, offset + len(complete)


def _exit_reason(recent_logs: list[str]) -> str:
    last = next((line for line in reversed(recent_logs) if line.strip()), "")
    reason = "The training process exited unexpectedly"
    return f"{reason}: {last}" if last else reason + "."
