"""Monitors, drift reports and their per-column results.

A ``DriftReport`` is one comparison of a reference with current data: an ad-hoc one
(``POST /api/v1/drift-reports/``, computed by a run of kind "drift") or a monitor's
window (computed by the beat). Its verdict is on the row; each column's test is a
``ColumnResult`` row, so reports over time are read per feature without parsing JSON.

A ``Monitor`` watches an endpoint's captured traffic (the gateway's Parquet, read
through ``apps.gateway.selectors``) or a dataset under the data root. Its reference
is profiled once and kept as profile bytes (``apps.backends.jobs.profiles``); each
window is profiled and compared with it. The endpoint is named by id and name, not
by a foreign key: monitoring reads other apps through their selectors.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.links import url_for
from apps.core.models import BaseModel
from apps.notifications.models import WebhookDelivery

from .columns import COLUMN_FIELDS


class Source(models.TextChoices):
    ENDPOINT = "endpoint", "Endpoint traffic"
    DATASET = "dataset", "Dataset"


class Schedule(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"
    CRON = "cron", "Cron expression (UTC)"
    VOLUME = "volume", "On capture volume"


SCHEDULE_SECONDS = {Schedule.HOURLY: 3600, Schedule.DAILY: 86400}


class AlertRule(models.TextChoices):
    DATASET_DRIFT = "dataset_drift", "Dataset drift"
    FEATURE_STREAK = "feature_streak", "Feature drifting window after window"
    MISSING_JUMP = "missing_jump", "Missing values jumped"


class RetrainData(models.TextChoices):
    WINDOW_AND_TRAINING = "window_and_training", "The window's labelled rows added to the model's training data"
    WINDOW = "window", "The window's labelled rows only"


class MonitorStatus(models.TextChoices):
    PENDING = "pending", "No window yet"
    OK = "ok", "No drift"
    DRIFT = "drift", "Drift"
    NO_DATA = "no_data", "No data in the last window"
    ERROR = "error", "Error"


class Monitor(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="monitors")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    source = models.CharField(max_length=20, choices=Source.choices)
    endpoint_id = models.UUIDField(null=True, blank=True)  # deployments' Endpoint (source "endpoint")
    endpoint_name = models.CharField(max_length=100, blank=True)  # the capture store's partition
    dataset = models.CharField(max_length=500, blank=True)  # source "dataset": a path under the data root
    # The reference: a dataset under the data root, or a window of the endpoint's traffic.
    reference = models.JSONField(default=dict)
    reference_label = models.CharField(max_length=500, blank=True)
    reference_profile = models.BinaryField(null=True, blank=True, editable=False)  # profiled once
    reference_rows = models.BigIntegerField(null=True, blank=True)
    window_hours = models.PositiveIntegerField(default=24)
    schedule = models.CharField(max_length=10, choices=Schedule.choices, default=Schedule.DAILY)
    # Schedule "cron": a 5-field expression in UTC (apps/monitoring/schedules.py); a firing evaluates
    # the time since the previous one.
    cron = models.CharField(max_length=100, blank=True)
    # Schedule "volume": a window once this many new input rows are captured; it evaluates the rows
    # since the last window. Counted from the capture store's listing and footers into
    # ``volume_seen`` since ``volume_since``; ``volume_cursor`` is where the listing was read to.
    volume_rows = models.PositiveIntegerField(null=True, blank=True)
    volume_seen = models.BigIntegerField(default=0, editable=False)
    volume_since = models.DateTimeField(null=True, blank=True, editable=False)
    volume_cursor = models.JSONField(default=dict, blank=True, editable=False)
    columns = models.JSONField(default=dict, blank=True)  # {"name": {"method", "threshold"}}
    enabled = models.BooleanField(default=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=MonitorStatus.choices, default=MonitorStatus.PENDING)
    status_message = models.TextField(blank=True)
    last_window_end = models.DateTimeField(null=True, blank=True)
    last_drift_share = models.FloatField(null=True, blank=True)
    # Alert rules: the dataset drifts; a feature drifts this many windows in a row (0: off).
    alert_on_dataset_drift = models.BooleanField(default=True)
    alert_feature_windows = models.PositiveSmallIntegerField(default=3)
    # A feature's missing share up by more than this many percentage points on the reference (0: off).
    alert_missing_jump = models.PositiveSmallIntegerField(default=0)
    # Closing the loop (apps/monitoring/retraining.py): an alert of rule ``retrain_on`` starts this
    # catalogue train template (by slug) on the window's data, as the monitor's creator; the version
    # it registers becomes the challenger and is asked into ``retrain_environment``.
    retrain_template = models.CharField(max_length=80, blank=True)
    retrain_on = models.CharField(max_length=20, blank=True, default="dataset_drift", choices=AlertRule.choices)
    retrain_environment = models.CharField(max_length=50, blank=True, default="staging")
    # The window's column that carries the outcome (clients send it with each request, or the
    # dataset has it); blank: the model's own label column. Rows with it train the new version,
    # added to the model's training data or alone (``retrain_data``).
    label_column = models.CharField(max_length=200, blank=True)
    retrain_data = models.CharField(max_length=20, choices=RetrainData.choices, default=RetrainData.WINDOW_AND_TRAINING)
    # Alerts also go to this URL, signed (apps/notifications/webhooks.py); the secret is stored encrypted.
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="monitor_unique_name_per_team")]
        indexes = [models.Index(fields=["enabled", "next_due_at"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return url_for("monitoring:monitor", self.pk)

    @property
    def subject(self) -> str:
        return self.endpoint_name if self.source == Source.ENDPOINT else self.dataset

    @property
    def window_text(self) -> str:
        """The monitor's windows in words, e.g. "24 h window, evaluated hourly"."""
        if self.schedule == Schedule.CRON:
            return f"the time since the previous firing, on cron “{self.cron}” (UTC)"
        if self.schedule == Schedule.VOLUME:
            return f"the rows since the last window, once {self.volume_rows or 0:,} new input rows are captured"
        return f"{self.window_hours} h window, evaluated {self.get_schedule_display().lower()}"


class ReportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    SUCCEEDED = "succeeded", "Done"
    NO_DATA = "no_data", "No data"
    FAILED = "failed", "Failed"


class DriftReport(BaseModel):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="drift_reports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    monitor = models.ForeignKey(Monitor, null=True, blank=True, on_delete=models.CASCADE, related_name="reports")
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reference = models.JSONField(default=dict)  # {"dataset": path} or {"endpoint", "start", "end"}
    current = models.JSONField(default=dict)
    columns_options = models.JSONField(default=dict, blank=True)
    reference_label = models.CharField(max_length=500, blank=True)
    current_label = models.CharField(max_length=500, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.PENDING)
    message = models.TextField(blank=True)
    dataset_drift = models.BooleanField(null=True)
    drift_share = models.FloatField(null=True, blank=True)
    drift_share_threshold = models.FloatField(null=True, blank=True)
    n_columns = models.PositiveIntegerField(default=0)
    n_drifted = models.PositiveIntegerField(default=0)
    rows_reference = models.BigIntegerField(null=True, blank=True)
    rows_current = models.BigIntegerField(null=True, blank=True)
    skipped = models.JSONField(default=dict, blank=True)  # column -> why it was not tested
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["team", "-created_at"]),
            models.Index(fields=["monitor", "-window_end"]),
        ]

    def __str__(self):
        if self.monitor_id and self.window_end:
            return f"{self.monitor} window to {self.window_end:%Y-%m-%d %H:%M}"
        return f"Drift report {str(self.pk)[:8]}"

    def get_absolute_url(self):
        return url_for("monitoring:report", self.pk)

    @property
    def is_done(self) -> bool:
        return self.status != ReportStatus.PENDING


class ColumnResult(models.Model):
    """One column's test in one report (``apps.monitoring.drift.ColumnDrift``), and the
    bars of its reference-vs-current overlay, read from the two profiles."""

    id = models.BigAutoField(primary_key=True)
    report = models.ForeignKey(DriftReport, on_delete=models.CASCADE, related_name="column_results")
    column = models.CharField(max_length=300)
    column_type = models.CharField(max_length=20)
    method = models.CharField(max_length=30)
    statistic = models.FloatField(null=True)  # None: not finite (an infinite divergence)
    threshold = models.FloatField()
    drifted = models.BooleanField()
    p_value = models.FloatField(null=True, blank=True)
    effect = models.TextField(blank=True)
    n_reference = models.BigIntegerField()
    n_current = models.BigIntegerField()
    missing_share = models.FloatField()
    missing_share_reference = models.FloatField()
    new_categories = models.JSONField(default=list, blank=True)
    exact = models.BooleanField(default=True)
    rank_error = models.FloatField(null=True, blank=True)
    distribution = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["report", "column"]
        constraints = [models.UniqueConstraint(fields=["report", "column"], name="columnresult_unique_column")]

    def __str__(self):
        return f"{self.column}: {self.method}"

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in COLUMN_FIELDS}


class DriftAlert(WebhookDelivery, BaseModel):
    """One alert of a monitor's rule: open while the condition holds (a drifting window
    again does not open a second one), resolved by the first window where it no longer does.
    Its opening, then its resolution, go to the monitor's webhook if it has one; the
    ``WebhookDelivery`` fields say how the newest of the two went."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alerts")
    rule = models.CharField(max_length=20, choices=AlertRule.choices)
    column = models.CharField(max_length=300, blank=True)  # the feature, for a feature rule
    message = models.CharField(max_length=500)
    windows = models.PositiveIntegerField(default=1)  # drifting windows seen while open
    opened_report = models.ForeignKey(DriftReport, null=True, on_delete=models.SET_NULL, related_name="+")
    last_report = models.ForeignKey(DriftReport, null=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "rule", "column"],
                condition=models.Q(resolved_at__isnull=True),
                name="driftalert_one_open_per_rule",
            )
        ]

    def __str__(self):
        return self.message

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class RetrainingStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Could not start"
    RUNNING = "running", "Retraining"
    RUN_FAILED = "run_failed", "Retraining run did not succeed"
    NO_VERSION = "no_version", "No version registered"
    REQUESTED = "requested", "Promotion requested"
    ERROR = "error", "Challenger or request failed"


class Retraining(BaseModel):
    """What an alert started: the template run on the window's data, then the version it
    registered (the challenger) and the promotion request filed for it, with the report
    that fired as the request's drift evidence."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="retrainings")
    alert = models.ForeignKey(DriftAlert, null=True, on_delete=models.SET_NULL, related_name="retrainings")
    report = models.ForeignKey(DriftReport, null=True, on_delete=models.SET_NULL, related_name="+")
    template_slug = models.CharField(max_length=80)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    window_dataset = models.CharField(max_length=500, blank=True)  # the window's rows, under the data root
    window_rows = models.BigIntegerField(null=True, blank=True)
    trained_on = models.CharField(max_length=500, blank=True)  # the dataset parameter the run was given
    trained_on_note = models.CharField(max_length=500, blank=True)  # why, when not the window's rows
    labelled_rows = models.BigIntegerField(null=True, blank=True)  # the window's rows with a label, trained on
    training_rows = models.BigIntegerField(null=True, blank=True)  # the model's training rows added to them
    status = models.CharField(max_length=20, choices=RetrainingStatus.choices, default=RetrainingStatus.RUNNING)
    message = models.TextField(blank=True)
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promotion_request = models.ForeignKey(
        "approvals.PromotionRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Retraining for {self.monitor}"
