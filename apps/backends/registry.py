"""Backend kinds by dotted path, so boto3 and databricks-sdk import only when used."""

from __future__ import annotations

from django.utils.module_loading import import_string

from .base import Backend, BackendUnavailable

BACKENDS: dict[str, str] = {
    "local": "apps.backends.local.backend.LocalBackend",
    "sagemaker": "apps.backends.sagemaker.backend.SageMakerBackend",
    "databricks": "apps.backends.databricks.backend.DatabricksBackend",
}

LABELS: dict[str, str] = {
    "local": "Local (scikit-learn + MLflow)",
    "sagemaker": "AWS SageMaker",
    "databricks": "Databricks",
}

# Kinds that work only through a connection (an account with credentials).
NEEDS_CONNECTION = {"sagemaker", "databricks"}


def available_kinds() -> list[str]:
    return list(BACKENDS)


def deploy_targets(kind: str) -> tuple[str, ...]:
    """The DEPLOY_TARGETS (cpu, gpu, inferentia) a kind can serve on, known without a connection."""
    return import_string(BACKENDS[kind]).deploy_targets


def get_backend(kind: str, *, config: dict | None = None, secrets: dict | None = None) -> Backend:
    try:
        backend_class = import_string(BACKENDS[kind])
    except KeyError:
        raise BackendUnavailable(f"Unknown backend {kind!r}.") from None
    if kind in NEEDS_CONNECTION:
        return backend_class.from_connection(config or {}, secrets or {})
    return backend_class.from_settings()
