"""Provisioning: a ``workspace`` is a Unity Catalog schema, a workspace folder
and an MLflow experiment in it.

All three carry the spec's tags and its key (``atrium_resource_key``: a
property on the schema, a tag on the experiment), which is how a repeated
provision recognises its own objects; an object of that name that is not the
spec's is never adopted. Everything follows from the name, so the resource id
``workspace:<name>`` is all polling and teardown need.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.service import ml, workspace

from ..base import BackendError, JobState, JobStatus, Link, ResourceSpec
from .client import errors, missing_ok
from .settings import WORKSPACE_ROOT

RESOURCE_KINDS = ("workspace",)
EXPERIMENT_LEAF = "experiment"
KEY_TAG = "atrium_resource_key"  # on the schema (property) and the experiment (tag): whose object it is
RESOURCE_TAG = "atrium_resource"
RESOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class WorkspaceNames:
    """Where a provisioned workspace's objects live; all of it follows from the
    name, so the resource id is just ``workspace:<name>``."""

    catalog: str
    name: str

    @classmethod
    def parse(cls, catalog: str, external_id: str) -> WorkspaceNames:
        kind, _, name = str(external_id or "").partition(":")
        if kind not in RESOURCE_KINDS or not RESOURCE_NAME.match(name):
            raise BackendError(
                f"Unknown Databricks resource id {external_id!r} (expected workspace:<name>).", permanent=True
            )
        return cls(catalog, name)

    @property
    def resource_id(self) -> str:
        return f"workspace:{self.name}"

    @property
    def schema(self) -> str:
        return f"{self.catalog}.{self.name}"

    @property
    def folder(self) -> str:
        return f"{WORKSPACE_ROOT}/{self.name}"

    @property
    def experiment(self) -> str:
        """The experiment's name: its workspace path, in the folder. Databricks
        names experiments without the ``/Workspace`` prefix (looking one up by
        name with the prefix finds nothing), so the name goes without it."""
        return f"{self.folder.removeprefix('/Workspace')}/{EXPERIMENT_LEAF}"


def provision(client: WorkspaceClient, catalog: str, spec: ResourceSpec) -> str:
    """Create the schema ``<catalog>.<name>``, the folder and the experiment,
    all in the call; a repeated call finds its own objects and creates nothing."""
    if spec.kind not in RESOURCE_KINDS:
        raise BackendError(
            f"Databricks cannot provision {spec.kind!r} resources; supported: {', '.join(RESOURCE_KINDS)}.",
            permanent=True,
        )
    ws = WorkspaceNames(catalog, resource_name(spec.parameters.get("name")))
    tags = {**{str(k): str(v) for k, v in spec.tags.items()}, RESOURCE_TAG: spec.kind, KEY_TAG: spec.key}
    ensure_schema(client, ws, tags, spec.key)
    with errors(f"create folder {ws.folder}"):  # mkdirs succeeds on an existing folder
        client.workspace.mkdirs(ws.folder)
    ensure_experiment(client, ws, tags, spec.key)
    return ws.resource_id


def poll(client: WorkspaceClient, catalog: str, external_id: str, *, host: str) -> JobStatus:
    """Ready when the schema, the folder and the experiment all exist; links to their pages in ``host``."""
    ws = WorkspaceNames.parse(catalog, external_id)
    with errors(f"read workspace {ws.name}"):
        schema = missing_ok(lambda: client.schemas.get(ws.schema))
        folder = missing_ok(lambda: client.workspace.get_status(ws.folder))
        experiment = find_experiment(client, ws)
    if folder is not None and folder.object_type != workspace.ObjectType.DIRECTORY:
        folder = None
    found = {"schema": schema is not None, "folder": folder is not None, "experiment": experiment is not None}
    if not any(found.values()):
        raise BackendError(
            f"No Databricks workspace {external_id}: none of its schema, folder or experiment exists "
            "(never provisioned, or torn down).",
            permanent=True,
        )
    links = []
    if schema is not None:
        links.append(Link("Unity Catalog schema", f"{host}/explore/data/{ws.catalog}/{ws.name}"))
    if folder is not None and folder.object_id:
        links.append(Link("Workspace folder", f"{host}/browse/folders/{folder.object_id}"))
    if experiment is not None:
        links.append(Link("MLflow experiment", f"{host}/ml/experiments/{experiment.experiment_id}"))
    if not all(found.values()):
        missing = ", ".join(what for what, ok in found.items() if not ok)
        progress = round(100 * sum(found.values()) / 3, 1)
        return JobStatus(JobState.RUNNING, progress, f"Waiting for: {missing}", links=links)
    outputs = {"schema": ws.schema, "folder": ws.folder, "experiment_id": experiment.experiment_id}
    return JobStatus(JobState.SUCCEEDED, 100.0, "Ready", outputs=outputs, links=links)


def teardown(client: WorkspaceClient, catalog: str, external_id: str) -> None:
    """Delete the experiment, the folder (recursively) and the schema (``force``:
    with whatever is in it). What is already gone is skipped, so a second
    teardown does nothing. A schema or experiment of that name that Atrium did
    not make is left alone (permanent error)."""
    ws = WorkspaceNames.parse(catalog, external_id)
    with errors(f"read workspace {ws.name}"):
        schema = missing_ok(lambda: client.schemas.get(ws.schema))
        experiment = find_experiment(client, ws)
    for what, key in (
        (f"Schema {ws.schema}", (schema.properties or {}).get(KEY_TAG) if schema else "-"),
        (f"Experiment {ws.experiment}", experiment_tags(experiment).get(KEY_TAG) if experiment else "-"),
    ):
        if not key:
            raise BackendError(f"{what} was not made by Atrium; not tearing {external_id} down.", permanent=True)
    if experiment is not None:
        with errors(f"delete experiment {ws.experiment}"), suppress(dberrors.NotFound):
            client.experiments.delete_experiment(experiment.experiment_id)
    with errors(f"delete folder {ws.folder}"), suppress(dberrors.NotFound):
        client.workspace.delete(ws.folder, recursive=True)
    if schema is not None:
        with errors(f"delete schema {ws.schema}"), suppress(dberrors.NotFound):
            client.schemas.delete(ws.schema, force=True)


def ensure_schema(client: WorkspaceClient, ws: WorkspaceNames, tags: dict[str, str], key: str) -> None:
    with errors(f"create schema {ws.schema}"):
        try:
            client.schemas.create(
                name=ws.name, catalog_name=ws.catalog, comment=f"Atrium workspace {ws.name}", properties=tags
            )
            return
        except (dberrors.ResourceAlreadyExists, dberrors.AlreadyExists):
            existing = client.schemas.get(ws.schema)
    owned((existing.properties or {}).get(KEY_TAG), key, f"Schema {ws.schema}")


def ensure_experiment(client: WorkspaceClient, ws: WorkspaceNames, tags: dict[str, str], key: str) -> str:
    with errors(f"create experiment {ws.experiment}"):
        existing = find_experiment(client, ws)
        if existing is None:
            try:
                created = client.experiments.create_experiment(
                    ws.experiment, tags=[ml.ExperimentTag(key=k, value=v) for k, v in sorted(tags.items())]
                )
                return created.experiment_id
            except (dberrors.ResourceAlreadyExists, dberrors.AlreadyExists):
                existing = find_experiment(client, ws)  # created concurrently (a redelivered task)
    if existing is None:
        raise BackendError(f"Experiment {ws.experiment} exists but cannot be read yet.", permanent=False)
    owned(experiment_tags(existing).get(KEY_TAG), key, f"Experiment {ws.experiment}")
    return existing.experiment_id


def find_experiment(client: WorkspaceClient, ws: WorkspaceNames) -> ml.Experiment | None:
    """The workspace's active experiment, or None (missing or deleted)."""
    found = missing_ok(lambda: client.experiments.get_by_name(ws.experiment))
    experiment = found.experiment if found is not None else None
    if experiment is None or (experiment.lifecycle_stage or "active") == "deleted":
        return None
    return experiment


def resource_name(value) -> str:
    """A workspace name as Unity Catalog stores it (lower case)."""
    name = str(value or "").strip().lower()
    if not RESOURCE_NAME.match(name):
        raise BackendError(
            f"Invalid workspace name {value!r}: letters, digits, '-' and '_', at most 63, "
            "starting with a letter or digit.",
            permanent=True,
        )
    return name


def owned(found_key: str | None, key: str, what: str) -> None:
    """Raise unless the object carries ``key``: an object of that name is never adopted."""
    if found_key == key:
        return
    owner = f"resource {found_key}" if found_key else "nothing Atrium made"
    raise BackendError(
        f"{what} already exists and belongs to {owner}, not to this resource; choose another name.", permanent=True
    )


def experiment_tags(experiment: ml.Experiment) -> dict[str, str]:
    return {t.key: t.value for t in experiment.tags or [] if t.key}
