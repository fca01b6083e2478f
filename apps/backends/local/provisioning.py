"""Local resources. The one kind is a ``workspace``: an MLflow experiment
``workspace-<name>`` tagged with the spec's tags, and a data folder
``<data_root>/workspaces/<name>``.

Provisioning is quick, so ``provision`` does the work in the call and records
it in ``<jobs_dir>/_resources/<key>.json``; ``poll_provision`` reads that
record. Both steps are idempotent by ``spec.key`` (and the experiment is found
by name), so a redelivered task creates nothing new. ``teardown`` soft-deletes
the experiment (MLflow keeps it in its trash) and removes the folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..base import BackendError, JobState, JobStatus, ResourceSpec
from . import processes
from .processes import SAFE_KEY
from .registry import mlflow_client, mlflow_errors

KINDS = ("workspace",)
EXPERIMENT_PREFIX = "workspace-"


class LocalProvisioner:
    def __init__(self, *, jobs_dir: Path, data_root: Path, tracking_uri: str):
        self.records = Path(jobs_dir) / "_resources"  # "_" never starts a job key: no clash with jobs
        self.data_root = Path(data_root)
        self.tracking_uri = tracking_uri

    def provision(self, spec: ResourceSpec) -> str:
        if spec.kind not in KINDS:
            raise BackendError(
                f"The local backend cannot provision {spec.kind!r} resources (only: {', '.join(KINDS)}).",
                permanent=True,
            )
        record_path = self._record_path(spec.key)
        name = str(spec.parameters.get("name") or spec.key)
        if not SAFE_KEY.match(name):
            raise BackendError(
                f"Invalid workspace name {name!r}: letters, digits, '-' and '_' only, at most 100.", permanent=True
            )
        self.records.mkdir(parents=True, exist_ok=True)
        with processes.locked(self.records / f"{spec.key}.lock"):
            record = processes.read_json(record_path)
            if record.get("state") == "succeeded":
                return spec.key  # already provisioned
            experiment_id = self._ensure_experiment(EXPERIMENT_PREFIX + name, spec.tags)
            path = self.data_root / "workspaces" / name
            path.mkdir(parents=True, exist_ok=True)
            processes.write_json(
                record_path,
                {
                    "key": spec.key,
                    "kind": spec.kind,
                    "name": name,
                    "state": "succeeded",
                    "tags": spec.tags,
                    "outputs": {"experiment_id": experiment_id, "path": str(path)},
                },
            )
        return spec.key

    def poll_provision(self, external_id: str) -> JobStatus:
        record = processes.read_json(self._record_path(external_id))
        if not record:
            raise BackendError(f"No local resource {external_id}.", permanent=True)
        if record.get("state") == "succeeded":
            return JobStatus(state=JobState.SUCCEEDED, progress=100, message="Ready", outputs=record["outputs"])
        if record.get("state") == "deleted":
            raise BackendError(f"Local resource {external_id} was torn down.", permanent=True)
        return JobStatus(state=JobState.FAILED, message=record.get("message", "Provisioning failed"))

    def teardown(self, external_id: str) -> None:
        """Delete the resource. A second teardown does nothing (the record stays,
        marked deleted, so a redelivered task succeeds); an unknown id is an error."""
        record_path = self._record_path(external_id)
        if not record_path.exists():
            raise BackendError(f"No local resource {external_id}.", permanent=True)
        with processes.locked(self.records / f"{external_id}.lock"):
            record = processes.read_json(record_path)
            if record.get("state") == "deleted":
                return
            experiment_id = record.get("outputs", {}).get("experiment_id")
            if experiment_id:
                client = mlflow_client(self.tracking_uri)
                with mlflow_errors(f"Deleting experiment {experiment_id}"):
                    experiment = _get_experiment(client, experiment_id)
                    if experiment is not None and experiment.lifecycle_stage == "active":
                        client.delete_experiment(experiment_id)
            path = self.data_root / "workspaces" / record["name"]
            shutil.rmtree(path, ignore_errors=True)
            processes.write_json(record_path, {**record, "state": "deleted"})

    # --- helpers ---------------------------------------------------------------

    def _record_path(self, key: str) -> Path:
        if not SAFE_KEY.match(key):
            raise BackendError(f"Invalid resource key {key!r}.", permanent=True)
        return self.records / f"{key}.json"

    def _ensure_experiment(self, name: str, tags: dict[str, str]) -> str:
        client = mlflow_client(self.tracking_uri)
        with mlflow_errors(f"Creating experiment {name}"):
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                from mlflow.exceptions import MlflowException

                try:
                    experiment_id = client.create_experiment(name, tags=dict(tags))
                except MlflowException as exc:  # another worker created it a moment ago
                    if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                    experiment_id = client.get_experiment_by_name(name).experiment_id
            else:
                experiment_id = experiment.experiment_id
                if experiment.lifecycle_stage == "deleted":  # torn down before: bring it back
                    client.restore_experiment(experiment_id)
            for key, value in tags.items():
                client.set_experiment_tag(experiment_id, key, value)
        return experiment_id


def _get_experiment(client, experiment_id: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_experiment(experiment_id)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
