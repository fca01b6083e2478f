"""The local backend's model registry: MLflow's, through ``MlflowClient``.

Approval is not an MLflow concept, so it is recorded as the model-version tag
``atrium.approval_status`` (one of ``APPROVAL_STATUSES``, the same words
SageMaker's model registry uses). Aliases are MLflow's own registered-model
aliases. MLflow failures become ``BackendError``: bad input and missing
models are permanent, anything else (the server down, a timeout) transient.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

from ..base import BackendError, ModelRef, ModelVersionDetails, ModelVersionInfo, RegisteredModelInfo

APPROVAL_TAG = "atrium.approval_status"
APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")

# MLflow error codes that retrying cannot fix.
PERMANENT_CODES = {
    "RESOURCE_DOES_NOT_EXIST",
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_ALREADY_EXISTS",
    "INVALID_STATE",
    "BAD_REQUEST",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "ENDPOINT_NOT_FOUND",
}


@contextmanager
def mlflow_errors(action: str):
    """Run MLflow calls, turning their failures into ``BackendError``."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        permanent = exc.error_code in PERMANENT_CODES
        raise BackendError(f"{action} failed: {exc.message}", permanent=permanent) from exc
    except (requests.RequestException, ConnectionError, TimeoutError) as exc:
        raise BackendError(f"{action} failed: MLflow is unreachable ({exc})", permanent=False) from exc


def preload() -> None:
    """Import MLflow's client now (it takes seconds): a Celery worker calls this before
    its pool forks, so no worker process pays for it on its first registry call."""
    import mlflow.artifacts  # noqa: F401
    from mlflow import MlflowClient  # noqa: F401
    from mlflow.exceptions import MlflowException  # noqa: F401


def mlflow_client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


class LocalRegistry:
    def __init__(self, tracking_uri: str):
        self.client = mlflow_client(tracking_uri)

    def list_model_versions(self, model_name: str) -> list[ModelVersionInfo]:
        """Every version of ``model_name``, newest first; [] if it has none."""
        if not model_name:
            raise BackendError("A model name is required.", permanent=True)
        quoted = model_name.replace("'", "\\'")
        with mlflow_errors(f"Listing versions of {model_name}"):
            versions, token = [], None
            while True:
                page = self.client.search_model_versions(f"name = '{quoted}'", max_results=200, page_token=token)
                versions.extend(page)
                token = page.token
                if not token:
                    break
            if not versions:
                return []
            # search results may leave aliases out; the registered model has them all
            aliases = self.client.get_registered_model(model_name).aliases or {}
            metrics = {}
            for run_id in {v.run_id for v in versions if v.run_id}:
                metrics[run_id] = self._run_metrics(run_id)
        infos = [
            ModelVersionInfo(
                name=v.name,
                version=str(v.version),
                source_run_id=v.run_id or "",
                aliases=sorted(a for a, version in aliases.items() if str(version) == str(v.version)),
                approval_status=(v.tags or {}).get(APPROVAL_TAG, ""),
                tags=dict(v.tags or {}),
                metrics=metrics.get(v.run_id, {}),
                artifact_uri=v.source or "",
                created_at=v.creation_timestamp / 1000 if v.creation_timestamp else None,
            )
            for v in versions
        ]
        return sorted(infos, key=lambda info: int(info.version), reverse=True)

    def _run_metrics(self, run_id: str) -> dict[str, float]:
        from mlflow.exceptions import MlflowException

        try:
            return dict(self.client.get_run(run_id).data.metrics)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}  # the source run was deleted; the version still exists
            raise

    def set_alias(self, model: ModelRef, alias: str) -> None:
        if not alias or not isinstance(alias, str):
            raise BackendError("An alias is required.", permanent=True)
        with mlflow_errors(f"Setting alias {alias!r} on {model.name} version {model.version}"):
            self.client.set_registered_model_alias(model.name, alias, str(model.version))

    def set_approval_status(self, model: ModelRef, status: str) -> None:
        if status not in APPROVAL_STATUSES:
            raise BackendError(
                f"Invalid approval status {status!r}: use one of {', '.join(APPROVAL_STATUSES)}.", permanent=True
            )
        with mlflow_errors(f"Setting approval status of {model.name} version {model.version}"):
            self.client.get_model_version(model.name, str(model.version))  # a clear error if it does not exist
            self.client.set_model_version_tag(model.name, str(model.version), APPROVAL_TAG, status)

    def check(self) -> dict:
        """Can MLflow be reached (a read: one experiment)?"""
        try:
            with mlflow_errors("Reading experiments"):
                self.client.search_experiments(max_results=1)
        except BackendError as exc:
            return {"check": "mlflow", "ok": False, "message": exc.message}
        return {"check": "mlflow", "ok": True, "message": f"MLflow answers at {self.client.tracking_uri}"}

    def check_model_version(self, model: ModelRef) -> None:
        """Raise a permanent ``BackendError`` if the version is not registered."""
        with mlflow_errors(f"Looking up {model.name} version {model.version}"):
            self.client.get_model_version(model.name, str(model.version))

    # --- registry mirror (apps/registry) ------------------------------------------

    def list_registered_models(self) -> list[RegisteredModelInfo]:
        """Every registered model. The fingerprint is MLflow's last-updated time,
        the aliases, the tags and the latest version numbers."""
        models, token = [], None
        with mlflow_errors("Listing registered models"):
            while True:
                page = self.client.search_registered_models(max_results=1000, page_token=token)
                models.extend(page)
                token = page.token
                if not token:
                    break
        return [
            RegisteredModelInfo(
                name=m.name,
                description=m.description or "",
                tags=dict(m.tags or {}),
                updated_at=m.last_updated_timestamp / 1000 if m.last_updated_timestamp else None,
                fingerprint=json.dumps(
                    [
                        m.last_updated_timestamp,
                        sorted((m.aliases or {}).items()),
                        sorted((m.tags or {}).items()),
                        sorted(str(v.version) for v in m.latest_versions or []),
                    ]
                ),
            )
            for m in models
        ]

    def model_version_details(self, model: ModelRef) -> ModelVersionDetails:
        """The training run's params and dataset, the logged model's input schema."""
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"Reading {model.name} version {model.version}"):
            version = self.client.get_model_version(model.name, str(model.version))
            params, dataset, user = {}, "", version.user_id or ""
            if version.run_id:
                try:
                    run = self.client.get_run(version.run_id)
                except MlflowException as exc:
                    if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                        raise
                else:
                    params = dict(run.data.params)
                    inputs = run.inputs.dataset_inputs if run.inputs else []
                    dataset = inputs[0].dataset.name if inputs else params.get("dataset", "")
                    user = user or run.info.user_id or ""
        stage = version.current_stage if version.current_stage not in (None, "None") else ""
        return ModelVersionDetails(
            params=params,
            input_schema=self._input_schema(version.source or ""),
            dataset=dataset,
            stage=stage,
            created_by=user,
            description=version.description or "",
        )

    def _input_schema(self, source: str) -> list[dict]:
        """The input columns of the model's signature ([] when it has none or cannot be read)."""
        import mlflow.artifacts
        import yaml
        from mlflow.exceptions import MlflowException

        try:
            location = source
            if source.startswith("models:/m-"):  # an MLflow 3 logged model
                location = self.client.get_logged_model(source.removeprefix("models:/")).artifact_location
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/MLmodel", tracking_uri=self.client.tracking_uri
            )
            with open(path) as file:
                signature = (yaml.safe_load(file) or {}).get("signature") or {}
            columns = json.loads(signature.get("inputs") or "[]")
        except (MlflowException, OSError, ValueError, yaml.YAMLError):
            return []
        return [{"name": c.get("name", ""), "type": c.get("type", "")} for c in columns if isinstance(c, dict)]

    def ensure_webhook(self, *, name: str, url: str, events: list[str], secret: str) -> str:
        """Create the webhook ``name``, or point it at ``url`` again (with the
        current secret and events, active). Returns its id."""
        with mlflow_errors("Register the MLflow webhook"):
            existing = next((hook for hook in self._webhooks() if hook.name == name), None)
            if existing is None:
                return self.client.create_webhook(name=name, url=url, events=events, secret=secret).webhook_id
            self.client.update_webhook(existing.webhook_id, url=url, events=events, secret=secret, status="ACTIVE")
            return existing.webhook_id

    def delete_webhook(self, name: str) -> None:
        with mlflow_errors("Remove the MLflow webhook"):
            for hook in self._webhooks():
                if hook.name == name:
                    self.client.delete_webhook(hook.webhook_id)

    def _webhooks(self):
        token = None
        while True:
            page = self.client.list_webhooks(max_results=100, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def delete_alias(self, model_name: str, alias: str) -> None:
        with mlflow_errors(f"Removing alias {alias!r} from {model_name}"):
            self.client.delete_registered_model_alias(model_name, alias)

    def set_version_tag(self, model: ModelRef, key: str, value: str) -> None:
        with mlflow_errors(f"Tagging {model.name} version {model.version}"):
            self.client.set_model_version_tag(model.name, str(model.version), key, value)

    def delete_version_tag(self, model: ModelRef, key: str) -> None:
        with mlflow_errors(f"Removing tag {key!r} from {model.name} version {model.version}"):
            self.client.delete_model_version_tag(model.name, str(model.version), key)
