"""Mirror the registries: read each source through the Backend protocol (never
a vendor SDK here), then write what changed in one transaction per model.

Sources are the local MLflow (settings.MLFLOW_TRACKING_URI) and every
SageMaker or Databricks connection. A sync is incremental: a model whose
fingerprint (the backend's change marker, see ``RegisteredModelInfo``) is the
one seen last time is skipped; ``full=True`` reads everything. Models and
versions that are gone upstream are kept, flagged ``deleted_upstream``.

Ownership (which team sees a model), first rule that applies:

1. the team of the portal run that trained a version of it (runs link to the
   versions they registered: the MLflow version tag ``atrium.run_key``, the
   SageMaker package's ``run`` metadata, the model version the run's step
   reported, or its MLflow run id);
2. the ``team`` tag on the model or (else) on its newest version that has one (the portal's cost tags),
   naming a team by slug;
3. for a connection, the first (by name) of the teams allowed to use it;
4. none: only admins see it until one of the above applies.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team
from apps.backends.base import BackendError, ModelRef, ModelVersionDetails, ModelVersionInfo
from apps.backends.base import RegisteredModelInfo as ModelInfo
from apps.connections.sources import LOCAL_SOURCE, Source, sources
from apps.runs.models import RunKind, RunStep

from .models import Direction, ModelAlias, ModelVersion, RegisteredModel, SyncState

logger = logging.getLogger(__name__)

RUN_KEY_TAG = "atrium.run_key"  # put on MLflow versions by the local training job
ARCHIVED_TAG = "atrium.archived"
PRIMARY_METRICS = ("accuracy", "f1", "roc_auc", "r2", "rmse", "mae", "mse", "log_loss")
LOWER_IS_BETTER = re.compile(r"(loss|error|rmse|mse|mae|mape|rmsle)", re.IGNORECASE)


def metric_direction(name: str) -> str:
    return Direction.MIN if LOWER_IS_BETTER.search(name or "") else Direction.MAX


def primary_metric(metrics: dict) -> str:
    """The metric a model is judged by: a well-known one if present, else the first by name."""
    for wanted in PRIMARY_METRICS:
        if wanted in metrics:
            return wanted
    for wanted in PRIMARY_METRICS:
        found = sorted(name for name in metrics if wanted in name.lower())
        if found:
            return found[0]
    return min(metrics, default="")


# --- sources -----------------------------------------------------------------------


def source_of(model: RegisteredModel) -> Source:
    return Source(kind=model.backend, connection=model.connection)


@dataclass
class SyncReport:
    models: int = 0
    skipped: int = 0
    deleted: int = 0
    errors: list[str] = field(default_factory=list)


# --- runs that registered versions -------------------------------------------------


class RunIndex:
    """The source's succeeded portal training and search steps (every run is a
    plan of steps), by every key a registry version can point back with."""

    def __init__(self, source: Source):
        self.by_key: dict[str, tuple] = {}
        self.by_version: dict[tuple[str, str], tuple] = {}
        steps = RunStep.objects.filter(
            status="succeeded",
            action__in=[RunKind.TRAIN, RunKind.TUNE],
            run__backend=source.kind,
            run__connection=source.connection,
        ).values_list("run_id", "run__team_id", "idempotency_key", "outputs", "model_name", "model_version", "metrics")
        for run_id, team_id, key, outputs, name, version, metrics in steps:
            entry = (run_id, team_id, dict(metrics or {}))
            self.by_key[key] = entry
            self.by_key[str(run_id)] = entry
            if (outputs or {}).get("mlflow_run_id"):
                self.by_key[str(outputs["mlflow_run_id"])] = entry
            if name and version:
                self.by_version[(name, version)] = entry

    def find(self, model_name: str, info: ModelVersionInfo) -> tuple | None:
        for key in (info.tags.get(RUN_KEY_TAG), info.source_run_id):
            if key and key in self.by_key:
                return self.by_key[key]
        return self.by_version.get((model_name, info.version))


# --- sync --------------------------------------------------------------------------------


def registry_sync(*, full: bool = False) -> dict[str, SyncReport]:
    """Every source; one failing source does not stop the others."""
    return {source.label: source_sync(source=source, full=full) for source in sources()}


def source_sync(*, source: Source, full: bool = False) -> SyncReport:
    report = SyncReport()
    try:
        backend = source.backend()
        infos = backend.list_registered_models()
    except BackendError as exc:
        _record_state(source, ok=False, message=exc.message)
        report.errors.append(exc.message)
        return report
    existing = {m.name: m for m in RegisteredModel.objects.filter(source=source.key)}
    runs = RunIndex(source)
    for info in infos:
        model = existing.get(info.name)
        unchanged = model and info.fingerprint and model.fingerprint == info.fingerprint and not model.deleted_upstream
        if unchanged and not full:
            report.skipped += 1
            continue
        try:
            _sync_model(source=source, backend=backend, info=info, model=model, runs=runs, full=full)
        except BackendError as exc:
            report.errors.append(f"{info.name}: {exc.message}")
            continue
        report.models += 1
    gone = set(existing) - {info.name for info in infos}
    report.deleted = _mark_deleted(source, gone)
    _record_state(source, ok=not report.errors, message="; ".join(report.errors)[:2000])
    logger.info("registry sync of %s: %s", source.label, report)
    return report


def model_sync(*, source: Source, name: str) -> RegisteredModel | None:
    """One model, now (a portal run registered a version, a webhook said it
    changed). Model-level fields (description, tags) come with the next source sync."""
    backend = source.backend()
    model = RegisteredModel.objects.filter(source=source.key, name=name).first()
    info = ModelInfo(name=name, description=model.description if model else "", tags=model.tags if model else {})
    return _sync_model(source=source, backend=backend, info=info, model=model, runs=RunIndex(source), full=False)


def version_link(*, source: Source, name: str, version: str, run_id, team_id, metrics: dict, dataset: str = ""):
    """A portal run registered ``name`` version ``version``: mirror it now, linked
    to the run, from what the run knows (no registry read, so it is in Models the
    moment the step ends). The details follow with the model's next sync."""
    model = _locked_model(source, name)
    row = model.versions.filter(version=version).first()
    now = timezone.now()
    if row is None:
        row = ModelVersion.objects.create(
            model=model, version=version, number=_number(version), metrics=metrics, run_id=run_id, dataset=dataset[:500]
        )
    elif row.run_id is None or not row.metrics:
        row.run_id = row.run_id or run_id
        row.metrics = row.metrics or metrics
        row.save(update_fields=["run", "metrics", "updated_at"])
    if row.number >= model.latest_version_number:
        model.latest_version_number = row.number
        model.latest_version_at = row.upstream_created_at or now
        model.latest_metrics = row.metrics
    if not model.primary_metric and row.metrics:
        model.primary_metric = primary_metric(row.metrics)
        model.primary_direction = metric_direction(model.primary_metric)
    model.version_count = model.versions.count()
    model.team_id = model.team_id or team_id
    model.deleted_upstream = False
    model.save()
    return row


def _sync_model(*, source, backend, info: ModelInfo, model, runs: RunIndex, full: bool) -> RegisteredModel:
    # Network reads first, with no transaction open.
    versions = backend.list_model_versions(info.name)
    known = set(model.versions.values_list("version", flat=True)) if model else set()
    details: dict[str, ModelVersionDetails] = {}
    for version in versions:
        # Unity Catalog lists versions without their tags: its details carry them, so read them each time.
        if full or version.version not in known or not getattr(backend, "lists_version_tags", True):
            details[version.version] = backend.model_version_details(ModelRef(name=info.name, version=version.version))
    with transaction.atomic():
        return _write_model(source, info, versions, details, runs)


def _locked_model(source: Source, name: str) -> RegisteredModel:
    """The model's row, created if new and locked until commit: two syncs of one
    model (the beat, a webhook, a run that registered a version) write in turn,
    and the second sees what the first wrote."""
    model, _ = RegisteredModel.objects.get_or_create(
        source=source.key, name=name, defaults={"backend": source.kind, "connection": source.connection}
    )
    return RegisteredModel.objects.select_for_update().get(pk=model.pk)


def _write_model(source, info, versions, details, runs) -> RegisteredModel:
    model = _locked_model(source, info.name)
    known = {v.version: v for v in model.versions.all()}
    now = timezone.now()
    newest = max(versions, key=lambda v: _number(v.version), default=None)
    links = {v.version: runs.find(info.name, v) for v in versions}
    newest_metrics = _metrics(newest, links[newest.version]) if newest else {}
    model.description = info.description or model.description
    model.tags = dict(info.tags or {})
    model.latest_version_number = _number(newest.version) if newest else 0
    model.latest_version_at = _time(newest.created_at) if newest else None
    model.latest_metrics = newest_metrics
    model.version_count = len(versions)
    if not model.primary_metric and newest_metrics:
        model.primary_metric = primary_metric(newest_metrics)
        model.primary_direction = metric_direction(model.primary_metric)
    model.fingerprint = info.fingerprint
    model.synced_at = now
    model.deleted_upstream = False
    model.team_id = _owner_team(source, model, versions, links) or model.team_id
    model.save()

    rows = []
    for info_v in versions:
        row = known.get(info_v.version) or ModelVersion(model=model, version=info_v.version)
        _fill_version(row, info_v, details.get(info_v.version), links.get(info_v.version), now)
        rows.append(row)
    new = [row for row in rows if row._state.adding]
    changed = [row for row in rows if not row._state.adding]
    ModelVersion.objects.bulk_create(new, batch_size=500)
    ModelVersion.objects.bulk_update(changed, FIELDS, batch_size=500)
    seen = {v.version for v in versions}
    gone = [row.pk for version, row in known.items() if version not in seen]
    ModelVersion.objects.filter(pk__in=gone).update(deleted_upstream=True, synced_at=now)

    by_version = {row.version: row for row in rows}
    ModelAlias.objects.filter(model=model).delete()
    ModelAlias.objects.bulk_create(
        [
            ModelAlias(model=model, version=by_version[v.version], alias=alias)
            for v in versions
            for alias in dict.fromkeys(v.aliases)
        ]
    )
    return model


FIELDS = [
    "approval_status",
    "stage",
    "description",
    "tags",
    "metrics",
    "params",
    "artifact_uri",
    "input_schema",
    "dataset",
    "source_run_id",
    "run",
    "created_by",
    "upstream_created_at",
    "archived",
    "deleted_upstream",
    "synced_at",
    "number",
]


def _metrics(info: ModelVersionInfo, link) -> dict:
    """The registry's metrics of a version, else those of the portal run that trained it
    (Unity Catalog keeps none: they are in the run)."""
    return dict(info.metrics) or dict(link[2] if link else {})


def _fill_version(row: ModelVersion, info: ModelVersionInfo, details, link, now) -> None:
    row.number = _number(info.version)
    row.approval_status = info.approval_status or ""
    row.metrics = _metrics(info, link)
    row.artifact_uri = info.artifact_uri or ""
    row.source_run_id = info.source_run_id or ""
    row.upstream_created_at = _time(info.created_at)
    tags = dict(info.tags)
    if details is not None:
        row.params = dict(details.params)
        row.input_schema = list(details.input_schema)
        row.dataset = details.dataset[:500]
        row.stage = details.stage
        row.created_by = details.created_by[:200]
        row.description = details.description
        if details.tags is not None:
            tags = dict(details.tags)
    elif row.pk and row.tags and not tags:
        tags = row.tags  # a backend whose list carries no tags: keep the last ones read
    row.tags = tags
    row.archived = tags.get(ARCHIVED_TAG) == "true"
    if link is not None:
        row.run_id = link[0]
    row.deleted_upstream = False
    row.synced_at = now


def _owner_team(source: Source, model: RegisteredModel, versions, links) -> object | None:
    linked = [links[v.version] for v in sorted(versions, key=lambda v: _number(v.version)) if links.get(v.version)]
    if linked:
        return linked[0][1]
    tagged = [v for v in sorted(versions, key=lambda v: _number(v.version), reverse=True) if v.tags.get("team")]
    slug = model.tags.get("team") or (tagged[0].tags["team"] if tagged else None)
    if slug:
        team_id = Team.objects.filter(slug=slug).values_list("pk", flat=True).first()
        if team_id:
            return team_id
    if source.connection is not None:
        return source.connection.teams.order_by("name").values_list("pk", flat=True).first()
    return None


def _mark_deleted(source: Source, names: set[str]) -> int:
    if not names:
        return 0
    now = timezone.now()
    models = RegisteredModel.objects.filter(source=source.key, name__in=names, deleted_upstream=False)
    with transaction.atomic():
        ModelAlias.objects.filter(model__in=models).delete()
        ModelVersion.objects.filter(model__in=models).update(deleted_upstream=True, synced_at=now)
        return models.update(deleted_upstream=True, synced_at=now, updated_at=now)


def _record_state(source: Source, *, ok: bool, message: str) -> None:
    SyncState.objects.update_or_create(
        source=source.key, defaults={"synced_at": timezone.now(), "ok": ok, "message": message}
    )


def _number(version: str) -> int:
    try:
        return int(version)
    except (TypeError, ValueError):
        return 0


def _time(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None


__all__ = ["LOCAL_SOURCE", "Source", "model_sync", "registry_sync", "source_sync", "sources", "version_link"]
