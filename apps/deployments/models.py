"""Endpoints on every backend, mirrored like the registry: the backend stays
the record of what serves; these rows say who owns it, what it serves, how
traffic is split, what happened to it (``EndpointEvent``) and how it behaves
(``EndpointMinute``, the gateway's per-minute rollups)."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.models import BaseModel


class EndpointState(models.TextChoices):
    CREATING = "creating", "Creating"
    UPDATING = "updating", "Updating"
    IN_SERVICE = "in_service", "In service"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"


class Endpoint(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="endpoints")
    backend = models.CharField(max_length=30)  # a kind of apps.backends.registry
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.PROTECT, related_name="endpoints"
    )
    source = models.CharField(max_length=60, editable=False)
    name = models.CharField(max_length=63)
    state = models.CharField(max_length=20, choices=EndpointState.choices, default=EndpointState.CREATING)
    message = models.TextField(blank=True)
    # The traffic split the portal applies ({variant name: percent}); the gateway routes by it.
    weights = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The rollout in progress, if any (a run of kind "rollout"); its stages move the weights.
    rollout_run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="rolling_endpoints"
    )
    # A person cutting the rollout's current stage short: "promote" or "rollback" (read by the stage).
    rollout_command = models.CharField(max_length=10, blank=True)
    rollout_command_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    synced_at = models.DateTimeField(null=True, blank=True)
    # Found on the backend by the endpoint mirror (mirror.py), not deployed by Atrium: the mirror
    # keeps its variants and split as the backend has them, until the portal deploys to it.
    discovered = models.BooleanField(default=False)
    fingerprint = models.CharField(max_length=200, blank=True)  # the backend's change marker, last read

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["source", "name"], name="deployments_endpoint_unique")]
        indexes = [models.Index(fields=["team", "name"]), models.Index(fields=["state"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("deployments:endpoint", args=[self.pk])

    @property
    def is_live(self) -> bool:
        return self.state not in {EndpointState.DELETED, EndpointState.DELETING}


class Variant(models.Model):
    """One model version behind an endpoint, on its hardware."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=63)
    model_name = models.CharField(max_length=500)
    model_version = models.CharField(max_length=50)
    target = models.CharField(max_length=20, blank=True)  # cpu | gpu | inferentia, when asked that way
    instance_type = models.CharField(max_length=100, blank=True)  # blank: the backend's type for the target
    instance_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["endpoint", "name"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "name"], name="deployments_variant_unique")]

    def __str__(self):
        return f"{self.name}: {self.model_name} v{self.model_version}"


class EndpointEvent(models.Model):
    """The endpoint's history: who did what, when and why (automatic decisions say why)."""

    class Kind(models.TextChoices):
        DEPLOYED = "deployed", "Deployed"
        TRAFFIC = "traffic", "Traffic shifted"
        STAGE = "stage", "Rollout stage"
        PROMOTED = "promoted", "Promoted"
        ROLLED_BACK = "rolled_back", "Rolled back"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"
        FOUND = "found", "Found"  # by the mirror, on the backend (made outside the portal)
        CHANGED = "changed", "Changed outside the portal"

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    automatic = models.BooleanField(default=False)  # decided by the rollout controller, not a person
    message = models.TextField()
    weights = models.JSONField(default=dict, blank=True)
    # What the endpoint served from this event on, when the mirror saw it found or changed
    # outside the portal (no deploy step records those): [{name, model_name, model_version,
    # instance_count}], the shape of a deploy step's params["variants"], so the cost split
    # (history.py) reads both alike, in one query with the event's time. On the event rather
    # than in a table of snapshots: it is written in the same transaction as the change and
    # always read whole. Empty when the served versions and instance counts did not change
    # (new weights, hardware, state): the configuration before still stands.
    variants = models.JSONField(default=list, blank=True)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-at"])]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.message}"


# Upper bounds (ms) of the latency histogram's buckets; the last is open-ended.
# Percentiles are read from the summed buckets (linear inside a bucket).
LATENCY_BOUNDS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
BUCKET_FIELDS = tuple(f"le_{bound}" for bound in LATENCY_BOUNDS_MS) + ("le_inf",)


class EndpointMinute(models.Model):
    """The gateway's telemetry for one endpoint variant and one minute. Gateway
    processes add to it (upsert); per-request rows never reach the database."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="minutes")
    variant = models.CharField(max_length=63)
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # 5xx: the model or the backend failed
    client_errors = models.PositiveIntegerField(default=0)  # 4xx: the request was refused
    latency_ms_sum = models.FloatField(default=0.0)
    model_latency_ms_sum = models.FloatField(default=0.0)
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    le_1 = models.PositiveIntegerField(default=0)
    le_2 = models.PositiveIntegerField(default=0)
    le_5 = models.PositiveIntegerField(default=0)
    le_10 = models.PositiveIntegerField(default=0)
    le_25 = models.PositiveIntegerField(default=0)
    le_50 = models.PositiveIntegerField(default=0)
    le_100 = models.PositiveIntegerField(default=0)
    le_250 = models.PositiveIntegerField(default=0)
    le_500 = models.PositiveIntegerField(default=0)
    le_1000 = models.PositiveIntegerField(default=0)
    le_2500 = models.PositiveIntegerField(default=0)
    le_5000 = models.PositiveIntegerField(default=0)
    le_inf = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["endpoint", "minute", "variant"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "variant", "minute"], name="deployments_minute_unique")
        ]
        indexes = [models.Index(fields=["minute"])]

    def __str__(self):
        return f"{self.endpoint_id} {self.variant} {self.minute:%Y-%m-%d %H:%M}"
