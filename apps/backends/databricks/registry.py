"""The model registry: Unity Catalog models, their versions, aliases and tags.

Models go by Unity Catalog's three-level name ``catalog.schema.model``; a bare
name means the connection's catalog and schema. Version tags and the version
create/finalize calls go through MLflow's Unity Catalog API (the SDK has no
typed call for them). Unity Catalog has no approval status: an alias marks the
approved version instead.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import suppress

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dberrors

from ..base import BackendError, ModelRef, ModelVersionDetails, ModelVersionInfo, RegisteredModelInfo
from .client import errors

UC_VERSIONS = "/api/2.0/mlflow/unity-catalog/model-versions"


def full_name(name: str, catalog: str, schema: str) -> str:
    """Unity Catalog's three-level name; bare names go to the configured catalog and schema."""
    parts = name.split(".")
    if len(parts) == 3 and all(parts):
        return name
    if len(parts) == 1 and name:
        return f"{catalog}.{schema}.{name}"
    raise BackendError(f"Invalid Unity Catalog model name {name!r}: use name or catalog.schema.name.", permanent=True)


def model_page_url(host: str, model: ModelRef) -> str:
    """The version's page in the workspace's Catalog Explorer (``model.name`` is a full name)."""
    catalog, schema, name = model.name.split(".")
    return f"{host}/explore/data/models/{catalog}/{schema}/{name}/version/{model.version}"


def list_model_versions(client: WorkspaceClient, full: str) -> list[ModelVersionInfo]:
    with errors(f"read model {full}"):
        model = client.registered_models.get(full, include_aliases=True)
        versions = list(client.model_versions.list(full))
    aliases: dict[int, list[str]] = defaultdict(list)
    for alias in model.aliases or []:
        aliases[alias.version_num].append(alias.alias_name)
    return [
        ModelVersionInfo(
            name=full,
            version=str(v.version),
            source_run_id=v.run_id or "",
            aliases=sorted(aliases.get(v.version, [])),
            approval_status="",
            artifact_uri=v.source or v.storage_location or "",
            created_at=v.created_at / 1000 if v.created_at else None,
            tags={"status": v.status.value} if v.status else {},
        )
        for v in sorted(versions, key=lambda v: v.version or 0, reverse=True)
    ]


def set_alias(client: WorkspaceClient, full: str, version: str, alias: str) -> None:
    with errors(f"set alias {alias} on {full}"):
        client.registered_models.set_alias(full, alias, int(version))


def delete_alias(client: WorkspaceClient, full: str, alias: str) -> None:
    with errors(f"remove alias {alias} from {full}"):
        client.registered_models.delete_alias(full, alias)


def no_approval_status() -> BackendError:
    return BackendError(
        "Unity Catalog model versions have no approval status. "
        "Mark the approved version with an alias (for example 'champion') instead.",
        permanent=True,
    )


def register_model_version(client: WorkspaceClient, full: str, source: str, *, run_id: str = "") -> ModelRef:
    """Register an MLflow model (``source`` is its URI) as a new version of
    ``full``, creating the model if need be, the way MLflow's UC registry does."""
    catalog_name, schema_name, name = full.split(".")
    api = client.api_client
    with errors(f"register a version of {full}"):
        with suppress(dberrors.ResourceAlreadyExists):
            client.registered_models.create(catalog_name=catalog_name, schema_name=schema_name, name=name)
        created = api.do("POST", f"{UC_VERSIONS}/create", body={"name": full, "source": source, "run_id": run_id})
        version = created["model_version"]["version"]
        api.do("POST", f"{UC_VERSIONS}/finalize", body={"name": full, "version": version})
    return ModelRef(name=full, version=str(version))


def list_registered_models(client: WorkspaceClient, catalog: str, schema: str) -> list[RegisteredModelInfo]:
    """The models of ``catalog.schema``, by full name. The fingerprint is the
    model's update time (or "" where it has none)."""
    prefix = f"{catalog}.{schema}."
    with errors(f"list the models of {catalog}.{schema}"):
        found = list(client.registered_models.list(catalog_name=catalog, schema_name=schema))
    return [
        RegisteredModelInfo(
            name=m.full_name,
            description=m.comment or "",
            updated_at=(m.updated_at or m.created_at or 0) / 1000 or None,
            fingerprint=str(m.updated_at or ""),
        )
        for m in found
        if m.full_name and m.full_name.startswith(prefix)
    ]


def model_version_details(client: WorkspaceClient, full: str, version: str) -> ModelVersionDetails:
    """Tags (MLflow's Unity Catalog API), the creator, and the params of the
    MLflow run behind the version when the workspace still has it."""
    with errors(f"read {full} version {version}"):
        found_version = client.model_versions.get(full, int(version))
        found = client.api_client.do("GET", f"{UC_VERSIONS}/get", query={"name": full, "version": str(version)}).get(
            "model_version", {}
        )
        params = {}
        if found_version.run_id:
            with suppress(dberrors.NotFound):
                run = client.experiments.get_run(found_version.run_id).run
                params = {p.key: p.value for p in (run.data.params if run and run.data else None) or []}
    return ModelVersionDetails(
        params=params,
        dataset=params.get("dataset", ""),
        stage=found_version.status.value if found_version.status else "",
        created_by=found_version.created_by or "",
        description=found_version.comment or "",
        tags={t["key"]: t.get("value", "") for t in found.get("tags") or []},
    )


def set_version_tag(client: WorkspaceClient, full: str, version: str, key: str, value: str) -> None:
    with errors(f"tag {full} version {version}"):
        client.api_client.do(
            "POST",
            f"{UC_VERSIONS}/set-tag",
            body={"name": full, "version": str(version), "key": key, "value": value},
        )


def delete_version_tag(client: WorkspaceClient, full: str, version: str, key: str) -> None:
    with errors(f"remove tag {key} from {full} version {version}"):
        client.api_client.do(
            "DELETE", f"{UC_VERSIONS}/delete-tag", query={"name": full, "version": str(version), "key": key}
        )
