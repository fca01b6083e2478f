"""Reads of the model mirror, scoped by team. Lists run a constant number of
queries: the page, its count, and one prefetch of the aliases shown."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Exists, F, FloatField, OuterRef, Prefetch, Q, QuerySet, TextField, prefetch_related_objects
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from apps.accounts.models import User
from apps.accounts.selectors import team_scoped
from apps.core.links import url_for
from apps.core.templatetags.atrium import stamp

from .models import ModelAlias, ModelVersion, RegisteredModel, SyncState
from .sync import metric_direction

METRIC_NAME = re.compile(r"^[\w.:/ -]{1,100}$")
SORTS = ("recent", "name", "metric")
MAX_COMPARE = 5


@dataclass(frozen=True)
class ModelFilters:
    q: str = ""
    tag: str = ""  # "key" or "key=value"
    team: str = ""  # a team slug
    backend: str = ""
    alias: str = ""
    stage: str = ""
    approval: str = ""
    sort: str = "recent"
    metric: str = ""  # with sort=metric
    deleted: bool = False  # include models deleted upstream


# Prefetches land in ``alias_list`` (a plain list): ``obj.aliases.all()`` on a
# prefetched manager clones its queryset, IN clause and all, for every row.
def _aliases():
    # The version's label alone, joined in SQL: no ModelVersion object per alias on a list page.
    only = ModelAlias.objects.only("alias", "model_id").annotate(version_label=F("version__version"))
    return Prefetch("aliases", queryset=only, to_attr="alias_list")


def _version_aliases():
    return Prefetch("aliases", queryset=ModelAlias.objects.only("alias", "version_id"), to_attr="alias_list")


def model_visible(*, user: User) -> QuerySet[RegisteredModel]:
    return team_scoped(RegisteredModel.objects.select_related("team", "connection"), user=user)


def model_list(*, user: User, filters: ModelFilters) -> QuerySet[RegisteredModel]:
    models = model_visible(user=user).defer("fingerprint", "description").prefetch_related(_aliases())
    if not filters.deleted:
        models = models.filter(deleted_upstream=False)
    if filters.q:
        models = models.filter(name__icontains=filters.q)
    if filters.tag:
        key, _, value = filters.tag.partition("=")
        models = models.alias(_tag=Cast(KeyTextTransform(key.strip(), "tags"), TextField()))
        models = models.filter(_tag=value.strip()) if value.strip() else models.filter(_tag__isnull=False)
    if filters.team:
        models = models.filter(team__slug=filters.team)
    if filters.backend:
        models = models.filter(backend=filters.backend)
    if filters.alias:
        models = models.filter(Exists(ModelAlias.objects.filter(model=OuterRef("pk"), alias=filters.alias)))
    for field, value in (("stage", filters.stage), ("approval_status", filters.approval)):
        if value:
            versions = ModelVersion.objects.filter(model=OuterRef("pk"), deleted_upstream=False, **{field: value})
            models = models.filter(Exists(versions))
    return _sorted(models, filters)


def _sorted(models: QuerySet, filters: ModelFilters) -> QuerySet:
    if filters.sort == "name":
        return models.order_by("name")
    if filters.sort == "metric" and filters.metric and METRIC_NAME.match(filters.metric):
        value = Cast(KeyTextTransform(filters.metric, "latest_metrics"), FloatField())
        models = models.annotate(_metric=value)
        if metric_direction(filters.metric) == "max":
            return models.order_by(F("_metric").desc(nulls_last=True), "name")
        return models.order_by(F("_metric").asc(nulls_last=True), "name")
    return models.order_by("-latest_version_at", "name")


# What the Models table shows, as columns: nothing to decode but the newest version's metrics.
TABLE_COLUMNS = (
    *("id", "name", "deleted_upstream", "backend", "connection__name", "latest_version_number"),
    *("version_count", "primary_metric", "latest_metrics", "team__name", "latest_version_at"),
)


def model_table(*, user: User, filters: ModelFilters) -> QuerySet[RegisteredModel]:
    """``model_list`` for the Paginator: no joins, so its count reads one index;
    ``model_rows`` reads a page of it as the rows the table shows."""
    return model_list(user=user, filters=filters).select_related(None).prefetch_related(None)


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One line of the Models table, every cell already formatted: the template only
    places them (filters and lookups per cell were most of the page's rendering)."""

    pk: uuid.UUID
    url: str
    name: str
    deleted_upstream: bool
    backend_label: str
    connection: str  # its name, "" when the model has none
    aliases: tuple[str, ...]  # "champion → v3", by alias
    latest_version_number: int
    version_count: int
    metric: str  # "accuracy 0.9500": the primary metric and its newest value ("" with no primary metric)
    team: str
    newest: str  # a <time> element (safe HTML)


def model_rows(models: QuerySet[RegisteredModel], *, labels: dict[str, str]) -> list[ModelRow]:
    """A page of ``model_table`` as rows, in two queries (the table's columns, the
    aliases); ``labels`` names the backends (apps.backends.registry.LABELS)."""
    from .templatetags.registry_tags import decimals

    values = list(models.values_list(*TABLE_COLUMNS))
    aliases = defaultdict(list)
    found = ModelAlias.objects.filter(model_id__in=[v[0] for v in values]).values_list(
        "model_id", "alias", "version__version"
    )
    for model_id, alias, version in found:
        aliases[model_id].append((alias, version))
    rows = []
    for pk, name, deleted, backend, connection, latest, count, metric, metrics, team, latest_at in values:
        value = metrics.get(metric, "") if isinstance(metrics, dict) else ""
        rows.append(
            ModelRow(
                pk=pk,
                url=url_for("registry:model", pk),
                name=name,
                deleted_upstream=deleted,
                backend_label=labels.get(backend) or backend,
                connection=connection or "",
                aliases=tuple(f"{alias} → v{version}" for alias, version in sorted(aliases[pk])),
                latest_version_number=latest,
                version_count=count,
                metric=f"{metric} {decimals(value, 4)}" if metric else "",
                team=team or "unassigned",
                newest=stamp(latest_at),
            )
        )
    return rows


def version_list(*, model: RegisteredModel) -> QuerySet[ModelVersion]:
    return (
        model.versions.defer("params", "input_schema", "description")
        .select_related("run", "run__created_by")
        .prefetch_related(_version_aliases())
        .order_by("-number")
    )


# What the versions table shows: no tags, params or schema to decode, and of the run only its name.
TABLE_FIELDS = (
    *("id", "model_id", "version", "number", "approval_status", "stage", "metrics", "source_run_id"),
    *("created_by", "upstream_created_at", "archived", "deleted_upstream", "run__id", "run__name", "run__kind"),
    *("run__created_by__id", "run__created_by__username"),
)


def version_table(*, model: RegisteredModel) -> QuerySet[ModelVersion]:
    return version_list(model=model).only(*TABLE_FIELDS)


def metric_series(*, model: RegisteredModel, metric: str) -> list[tuple[str, float]]:
    """(version, value) of ``metric`` for every live version, oldest first: one query."""
    if not metric:
        return []
    rows = (
        model.versions.filter(deleted_upstream=False)
        .annotate(_value=KeyTextTransform(metric, "metrics"))
        .filter(_value__isnull=False)
        .order_by("number")
        .values_list("version", "_value")
    )
    series = []
    for version, value in rows:
        try:
            series.append((version, float(value)))
        except (TypeError, ValueError):
            continue
    return series


def version_get(*, model: RegisteredModel, version: str) -> ModelVersion | None:
    return (
        model.versions.select_related("run", "run__created_by", "model", "model__connection")
        .prefetch_related(_version_aliases())
        .filter(version=version)
        .first()
    )


def versions_for_compare(*, model: RegisteredModel, versions: list[str]) -> list[ModelVersion]:
    found = {v.version: v for v in model.versions.prefetch_related(_version_aliases()).filter(version__in=versions)}
    return [found[v] for v in dict.fromkeys(versions) if v in found]


def sync_states() -> list[SyncState]:
    return list(SyncState.objects.order_by("source"))


def team_choices(*, user: User):
    from apps.accounts.selectors import user_teams

    return user_teams(user=user).only("slug", "name")


def versions_of_steps(steps) -> dict:
    """{step id: {"id", "name", "version", "url"}} of the portal's model-version
    pages for what these run steps registered, in one query (the run engine
    shows them on run pages and in the runs API)."""
    wanted = {(step.run_id, step.model_name, step.model_version): step.pk for step in steps}
    rows = ModelVersion.objects.filter(run_id__in={step.run_id for step in steps}).select_related("model")
    found = {}
    for row in rows.only("id", "version", "run_id", "model__id", "model__name"):
        step_id = wanted.get((row.run_id, row.model.name, row.version))
        if step_id is not None:
            found[step_id] = {
                "id": str(row.pk),
                "name": row.model.name,
                "version": row.version,
                "url": row.get_absolute_url(),
            }
    return found


def models_for_home(*, user: User, limit: int = 8) -> list[RegisteredModel]:
    """The team's live models, those with a version the person trained first,
    then the newest; with their aliases. Sorting every model by "trained by me"
    asked about each of them (64 ms of SQL with 10,000 models), so the trained ones
    are read from the person's runs and the newest apart: four queries."""
    newest = (F("latest_version_at").desc(nulls_last=True), "name")
    visible = model_visible(user=user).filter(deleted_upstream=False).defer("fingerprint", "description")
    # run__isnull: PostgreSQL then reads the versions trained in the portal from the run index, not all.
    mine = ModelVersion.objects.filter(run__isnull=False, run__created_by=user).values("model_id")
    trained = list(visible.filter(pk__in=mine).order_by(*newest)[:limit])
    seen = {model.pk for model in trained}
    others = [model for model in visible.order_by(*newest)[:limit] if model.pk not in seen]
    for model in trained:
        model.trained_by_me = True
    for model in others:
        model.trained_by_me = False
    models = trained + others[: limit - len(trained)]
    prefetch_related_objects(models, _aliases())
    return models


def version_urls(*, user: User, refs: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """{(source, model name, version): the portal's version page} for the
    versions among ``refs`` the user may see, in one query (deployments link
    the versions their variants serve)."""
    if not refs:
        return {}
    q = Q()
    for source, name, version in set(refs):
        q |= Q(model__source=source, model__name=name, version=version)
    visible = model_visible(user=user).values("pk")
    rows = (
        ModelVersion.objects.filter(q, model__in=visible)
        .select_related("model")
        .only("id", "version", "model__id", "model__name", "model__source")
    )
    return {(row.model.source, row.model.name, row.version): row.get_absolute_url() for row in rows}


def version_tags(*, refs: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict[str, str]]:
    """{(source, model name, version): the version's tags} for the mirrored versions among
    ``refs``, in one query (no team scope: the gateway reads what its endpoints serve)."""
    if not refs:
        return {}
    q = Q()
    for source, name, version in set(refs):
        q |= Q(model__source=source, model__name=name, version=version)
    rows = ModelVersion.objects.filter(q).values_list("model__source", "model__name", "version", "tags")
    return {(source, name, version): tags or {} for source, name, version, tags in rows}


def versions_deployable(*, user: User, limit: int = 200) -> list[ModelVersion]:
    """Versions a person may deploy (their teams' live ones), newest first, for the deploy form."""
    return list(
        ModelVersion.objects.filter(model__in=model_visible(user=user).filter(deleted_upstream=False).values("pk"))
        .filter(archived=False, deleted_upstream=False)
        .select_related("model", "model__connection")
        .order_by("-upstream_created_at", "-created_at")[:limit]
    )


def alias_holder(*, model: RegisteredModel, alias: str) -> ModelVersion | None:
    """The version holding ``alias`` on ``model`` (an environment's champion), if any."""
    row = ModelAlias.objects.filter(model=model, alias=alias).select_related("version__model").first()
    return row.version if row else None


def version_visible(*, user: User, pk) -> ModelVersion | None:
    """A version of a model of the person's teams, by id (None when not theirs or not found)."""
    models = model_visible(user=user)
    return (
        ModelVersion.objects.select_related("model__team", "model__connection").filter(model__in=models, pk=pk).first()
    )


def version_of_run(*, run) -> ModelVersion | None:
    """The newest version a portal run registered (what a template's gate is about), if any."""
    return ModelVersion.objects.select_related("model").filter(run=run).order_by("-number").first()


# --- costs -----------------------------------------------------------------------------------


def versions_of_runs(*, run_ids) -> dict[str, tuple[str, str]]:
    """{run id: (model name, version)} the newest version each portal run registered: one query."""
    rows = (
        ModelVersion.objects.filter(run_id__in=list(run_ids))
        .order_by("run_id", "-number")
        .values_list("run_id", "model__name", "version")
    )
    found: dict[str, tuple[str, str]] = {}
    for run_id, name, version in rows:
        found.setdefault(str(run_id), (name, version))
    return found


@dataclass(frozen=True)
class VersionQuality:
    model_name: str
    version: str
    url: str
    metric: str  # the model's primary metric ("" when it has none)
    direction: str  # max | min
    value: float | None


def versions_by_name(*, user: User, names: list[str], limit: int = 2000) -> list[VersionQuality]:
    """The live versions of the models named ``names`` that the person may see, oldest first,
    each with its page and the value of its model's primary metric: one query."""
    if not names:
        return []
    rows = (
        ModelVersion.objects.filter(model__in=model_visible(user=user).values("pk"), model__name__in=names)
        .filter(deleted_upstream=False)
        .select_related("model")
        .only(
            *("id", "version", "number", "metrics"),
            *("model__id", "model__name", "model__primary_metric", "model__primary_direction"),
        )
        .order_by("model__name", "number")[:limit]
    )
    out = []
    for row in rows:
        metric = row.model.primary_metric
        value = (row.metrics or {}).get(metric) if metric else None
        try:
            value = float(value) if value is not None else None
        except (TypeError, ValueError):
            value = None
        out.append(
            VersionQuality(
                model_name=row.model.name,
                version=row.version,
                url=row.get_absolute_url(),
                metric=metric,
                direction=row.model.primary_direction,
                value=value,
            )
        )
    return out
