"""Backend kinds by dotted path, so boto3 and databricks-sdk import only when used."""

from __future__ import annotations

from django.utils.module_loading import import_string

from .base import Backend, BackendUnavailable, ConnectionSetting

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


def missing_target(kind: str, target: str) -> str:
    """Why a kind has no ``target`` hardware, when its backend says more than that it has none ("" otherwise)."""
    explain = getattr(import_string(BACKENDS[kind]), "missing_target", None)
    return explain(target) if explain else ""


def guards_rollouts(kind: str) -> bool:
    """Whether a kind's cloud can run a rollout itself (``GuardedRollouts``), known without a connection."""
    return kind in BACKENDS and callable(getattr(import_string(BACKENDS[kind]), "guardrails_refusal", None))


# Where rows live in the clouds; each backend reads (and writes) only its own ``data_prefixes``.
CLOUD_PREFIXES = ("s3://", "dbfs:/", "/Volumes/")


def data_prefixes(kind: str) -> tuple[str, ...]:
    """The cloud storage paths (of CLOUD_PREFIXES) a kind's jobs read and write, known without a connection."""
    return import_string(BACKENDS[kind]).data_prefixes


def get_backend(kind: str, *, config: dict | None = None, secrets: dict | None = None) -> Backend:
    try:
        backend_class = import_string(BACKENDS[kind])
    except KeyError:
        raise BackendUnavailable(f"Unknown backend {kind!r}.") from None
    if kind in NEEDS_CONNECTION:
        return backend_class.from_connection(config or {}, secrets or {})
    return backend_class.from_settings()


def connection_settings(kind: str) -> tuple[ConnectionSetting, ...]:
    """The settings a connection of ``kind`` takes, as the backend declares them
    once (``<kind>/settings.py``): the form, its validation and the docs follow."""
    if kind not in NEEDS_CONNECTION:
        raise BackendUnavailable(f"Unknown connection kind {kind!r}.")
    return import_string(f"apps.backends.{kind}.settings.CONNECTION_SETTINGS")


def connection_problems(kind: str, config: dict, secrets: dict) -> dict[str, list[str]]:
    """What the backend finds wrong with settings that match its declaration
    (a malformed region, half a key pair...): errors per setting."""
    try:
        check = import_string(f"apps.backends.{kind}.settings.validate")
    except ImportError:
        return {}
    return check(config, secrets)
