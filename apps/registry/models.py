"""A mirror of every registry the portal knows: MLflow (the local tracking
server), SageMaker model package groups and Databricks Unity Catalog. The
backend stays the record; these rows are rebuilt from it by ``sync`` and
updated after each successful write-through (``services``)."""

from django.db import models

from apps.core.links import url_for
from apps.core.models import BaseModel


class Direction(models.TextChoices):
    MAX = "max", "Higher is better"
    MIN = "min", "Lower is better"


class RegisteredModel(BaseModel):
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="registered_models"
    )
    backend = models.CharField(max_length=30)  # a kind of apps.backends.registry
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.CASCADE, related_name="registered_models"
    )
    source = models.CharField(max_length=60, editable=False)  # source_key(): unique with the name
    name = models.CharField(max_length=500)  # as the registry names it (UC: catalog.schema.name)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    latest_version_number = models.PositiveIntegerField(default=0)
    latest_version_at = models.DateTimeField(null=True, blank=True)  # upstream time of the newest version
    latest_metrics = models.JSONField(default=dict, blank=True)  # the newest version's, for sorting by a metric
    version_count = models.PositiveIntegerField(default=0)
    primary_metric = models.CharField(max_length=100, blank=True)
    primary_direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.MAX)
    fingerprint = models.TextField(blank=True)  # the backend's change marker at the last sync
    synced_at = models.DateTimeField(null=True, blank=True)
    deleted_upstream = models.BooleanField(default=False)

    class Meta:
        ordering = ["-latest_version_at", "name"]
        constraints = [models.UniqueConstraint(fields=["source", "name"], name="registry_model_unique_source_name")]
        indexes = [
            models.Index(fields=["team", "-latest_version_at"]),
            models.Index(fields=["-latest_version_at", "name"]),
            models.Index(fields=["backend", "-latest_version_at"]),
            models.Index(fields=["name"]),
            # The Models page's count (live models of the person's teams) read from the index alone.
            models.Index(fields=["team", "deleted_upstream"]),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return url_for("registry:model", self.pk)

    @property
    def revision(self) -> str:
        """Changes whenever the model, a version or an alias changes: every
        writer (the sync, the services) saves the model or bumps ``updated_at``.
        Cached renderings of the model's versions are keyed by it."""
        return f"{self.pk.hex}.{self.updated_at.timestamp():.6f}"

    @property
    def alias_pairs(self) -> list[tuple[str, str]]:
        """(alias, version), by alias: from the selectors' prefetch, else a query."""
        aliases = getattr(self, "alias_list", None)
        if aliases is None:
            aliases = self.aliases.annotate(version_label=models.F("version__version"))
        return sorted((alias.alias, alias.version_label) for alias in aliases)


class ModelVersion(BaseModel):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    number = models.PositiveIntegerField()  # sort key
    approval_status = models.CharField(max_length=40, blank=True)
    stage = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    artifact_uri = models.TextField(blank=True)
    input_schema = models.JSONField(default=list, blank=True)
    dataset = models.CharField(max_length=500, blank=True)
    source_run_id = models.CharField(max_length=200, blank=True)  # the registry's run id (MLflow run, ...)
    run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )  # the portal run that trained it
    created_by = models.CharField(max_length=200, blank=True)  # as the registry reports it
    upstream_created_at = models.DateTimeField(null=True, blank=True)
    archived = models.BooleanField(default=False)
    deleted_upstream = models.BooleanField(default=False)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="registry_version_unique")]
        indexes = [
            models.Index(fields=["model", "-number"]),
            models.Index(fields=["model", "approval_status"]),
            models.Index(fields=["model", "stage"]),
            models.Index(fields=["source_run_id"]),
        ]

    def __str__(self):
        return f"{self.model.name} v{self.version}"

    def get_absolute_url(self):
        return url_for("registry:version", self.model_id, self.version)

    @property
    def alias_names(self) -> list[str]:
        """Sorted aliases: from the selectors' prefetch, else a query."""
        aliases = getattr(self, "alias_list", None)
        if aliases is None:
            aliases = self.aliases.all()
        return sorted(alias.alias for alias in aliases)

    @property
    def ref(self):
        from apps.backends.base import ModelRef

        return ModelRef(name=self.model.name, version=self.version)


class ModelAlias(models.Model):
    """An alias names one version of a model (MLflow, Unity Catalog; SageMaker
    through tags). A row per alias, so lists filter on it with an index."""

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=255)

    class Meta:
        ordering = ["alias"]
        constraints = [models.UniqueConstraint(fields=["model", "alias"], name="registry_alias_unique")]
        indexes = [models.Index(fields=["alias", "model"])]

    def __str__(self):
        return f"@{self.alias}"


class SyncState(models.Model):
    """How the last sync of one source went (shown on the models page)."""

    source = models.CharField(max_length=60, primary_key=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=True)
    message = models.TextField(blank=True)

    def __str__(self):
        return self.source
