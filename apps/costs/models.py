"""Costs: what each backend billed, rolled up per day (``DailyCost``), which
days of which source were read (``CostDay``), budgets per team or project and
the alerts they sent (``BudgetAlert``, one per budget, month, threshold and kind).

A daily row says where its money went as far as the bill's tags tell:
team, project, model, model version, endpoint and run. What the tags do not
say is kept as ``UNTAGGED`` (team: none), never dropped."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from apps.core.models import BaseModel
from apps.notifications.models import WebhookDelivery

UNTAGGED = "untagged"
LOCAL_SOURCE = "local"
DEFAULT_THRESHOLDS = [50, 80, 100]


def source_key(connection_id) -> str:
    """Whose bill: the local backend, or a connection (as deployments name them)."""
    return f"connection:{connection_id}" if connection_id else LOCAL_SOURCE


class DailyCost(models.Model):
    """One day's spend of one source for one service and tag set."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    source = models.CharField(max_length=60)  # source_key(): re-ingesting a source's day replaces its rows
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    backend = models.CharField(max_length=30)
    service = models.CharField(max_length=200, blank=True)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team_tag = models.CharField(max_length=100, default=UNTAGGED)  # the bill's own word, even for an unknown team
    project = models.CharField(max_length=200, default=UNTAGGED)
    model_name = models.CharField(max_length=500, blank=True)
    model_version = models.CharField(max_length=50, blank=True)
    endpoint = models.CharField(max_length=100, blank=True)
    run = models.CharField(max_length=64, blank=True)
    amount = models.DecimalField(max_digits=16, decimal_places=6)
    currency = models.CharField(max_length=10, default="USD")
    is_estimate = models.BooleanField(default=False)

    class Meta:
        ordering = ["-day", "id"]
        permissions = [("backfill_dailycost", "Can read a date range of costs again from the backends")]
        indexes = [
            models.Index(fields=["source", "day"]),  # replacing a day
            models.Index(fields=["team", "day"]),  # the dashboard, team-scoped
            models.Index(fields=["day", "backend"]),  # admins' dashboard
            models.Index(fields=["endpoint", "day"]),  # cost per 1,000 predictions
            models.Index(fields=["model_name", "day"]),
        ]

    def __str__(self):
        return f"{self.day} {self.team_tag}/{self.project} {self.service}: {self.amount} {self.currency}"


class Grain(models.TextChoices):
    DAY = "d", "Day"
    MONTH = "m", "Month"


class CostRollup(models.Model):
    """What the dashboard reads instead of the raw rows: ``DailyCost`` summed over the columns a
    rollup drops, per day (``grain`` d) and per month (m, ``day`` the first of the month). Kept
    by ingestion in the transaction that replaces a source's days (``rollups.rollups_refresh``)."""

    id = models.BigAutoField(primary_key=True)
    grain = models.CharField(max_length=1, choices=Grain.choices)
    day = models.DateField()
    source = models.CharField(max_length=60)
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    backend = models.CharField(max_length=30)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team_tag = models.CharField(max_length=100, default=UNTAGGED)
    project = models.CharField(max_length=200, default=UNTAGGED)
    currency = models.CharField(max_length=10, default="USD")
    is_estimate = models.BooleanField(default=False)
    amount = models.DecimalField(max_digits=18, decimal_places=6)
    raw_rows = models.PositiveIntegerField(default=0)  # DailyCost rows summed

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.get_grain_display()} {self.day} {self.team_tag}/{self.project}: {self.amount} {self.currency}"


class ServiceCost(CostRollup):
    """Spend by team, project, backend and service (spend over time, budgets)."""

    service = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["source", "grain", "day"], name="costs_svc_refresh"),
            models.Index(fields=["team", "grain", "day"], name="costs_svc_team"),
            models.Index(fields=["grain", "day"], name="costs_svc_all"),
        ]


class ModelCost(CostRollup):
    """Spend by team, project, backend, model, version, endpoint and run (top models and
    endpoints, cost per 1,000 predictions, cost per model version)."""

    model_name = models.CharField(max_length=500, blank=True)
    model_version = models.CharField(max_length=50, blank=True)
    endpoint = models.CharField(max_length=100, blank=True)
    run = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["source", "grain", "day"], name="costs_mdl_refresh"),
            models.Index(fields=["team", "grain", "day"], name="costs_mdl_team"),
            models.Index(fields=["grain", "day"], name="costs_mdl_all"),
            # cost per model version reads the few rows naming a run or a version: not the period's all
            models.Index(fields=["grain", "day", "team"], name="costs_mdl_runs", condition=~Q(run="")),
            models.Index(fields=["grain", "day", "team"], name="costs_mdl_versions", condition=~Q(model_version="")),
        ]


class CostDay(models.Model):
    """One source's day as last read: a day read with its final bill is not asked
    for again (Cost Explorer charges per request); an estimated one is."""

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=60)
    connection = models.ForeignKey(
        "connections.Connection", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    read_at = models.DateTimeField(auto_now=True)
    rows = models.PositiveIntegerField(default=0)
    final = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "day"], name="costs_costday_unique")]

    def __str__(self):
        return f"{self.source} {self.day} ({'final' if self.final else 'estimate'})"


class Budget(BaseModel):
    """A monthly budget of a team, or of one of its projects (``project`` set)."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="budgets")
    project = models.CharField(max_length=200, blank=True, help_text="Blank: the whole team.")
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))], help_text="Per month."
    )
    currency = models.CharField(max_length=10, default="USD")
    thresholds = models.JSONField(default=list, blank=True)  # percentages, e.g. [50, 80, 100]
    webhook_url = models.CharField(
        max_length=500, blank=True, help_text="Alerts are also POSTed here, signed (X-Atrium-Signature)."
    )
    webhook_secret = models.TextField(blank=True, editable=False)  # encrypted (apps.core.crypto); never shown
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["team__name", "project"]
        constraints = [models.UniqueConstraint(fields=["team", "project"], name="costs_budget_unique")]

    def __str__(self):
        return f"{self.team} · {self.project}" if self.project else f"{self.team}"

    def get_absolute_url(self):
        return reverse("costs:budgets")

    @property
    def levels(self) -> list[int]:
        return sorted(int(t) for t in (self.thresholds or DEFAULT_THRESHOLDS))


class BudgetAlert(WebhookDelivery, models.Model):
    """A threshold a budget crossed in a month, actually or by forecast: sent once, and to the
    budget's webhook if it has one (how that delivery went: ``WebhookDelivery``'s fields)."""

    class Kind(models.TextChoices):
        ACTUAL = "actual", "Actual"
        FORECAST = "forecast", "Forecast"

    id = models.BigAutoField(primary_key=True)
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    month = models.DateField()  # the first of the month
    threshold = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    spent = models.DecimalField(max_digits=16, decimal_places=2)  # actual or forecast, when it was sent
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "month", "threshold", "kind"], name="costs_alert_once")
        ]

    def __str__(self):
        return f"{self.budget} {self.month:%Y-%m} {self.kind} {self.threshold}%"


class ScaleDownRequest(models.Model):
    """A manager asked an idle endpoint's owners to scale it down or delete it: once per
    endpoint per week (the Monday it falls in), however often the button is pressed."""

    id = models.BigAutoField(primary_key=True)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    endpoint_id = models.UUIDField()  # the deployments app's endpoint (no foreign key across apps)
    endpoint_name = models.CharField(max_length=100)
    week = models.DateField()  # the Monday of the week it was asked in
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notified = models.PositiveIntegerField(default=0)  # data scientists told
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["endpoint_id", "week"], name="costs_scale_down_once_a_week")]

    def __str__(self):
        return f"Scale down or delete {self.endpoint_name} (week of {self.week})"
