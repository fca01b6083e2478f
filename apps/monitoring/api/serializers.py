from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api import StrictSerializer
from apps.notifications.serializers import WebhookDeliverySerializer

from ..models import DriftAlert, DriftReport, Monitor, Retraining

SIGNING_KEY_HELP = (
    "The secret deliveries are signed with, shared with the receiver: at least 16 characters, stored "
    "encrypted, never shown again. Left out: one is made when a URL is set without one, shown once "
    "in the answer (webhook_secret)."
)


class DriftReportRequestSerializer(StrictSerializer):
    reference = serializers.JSONField(
        help_text='A dataset path under the data root, or a window {"endpoint", "start", "end"} '
        '(also "endpoint:<name>:<start>/<end>").'
    )
    current = serializers.JSONField(help_text="As reference.")
    columns = serializers.JSONField(
        required=False, help_text='Per column: {"<name>": {"method": "psi", "threshold": 0.2}}.'
    )


class ColumnResultSerializer(serializers.Serializer):
    method = serializers.CharField()
    statistic = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField()
    drifted = serializers.BooleanField()
    p_value = serializers.FloatField(allow_null=True)
    effect = serializers.CharField()
    n_reference = serializers.IntegerField()
    n_current = serializers.IntegerField()
    missing_share = serializers.FloatField()
    new_categories = serializers.ListField()
    exact = serializers.BooleanField()
    rank_error = serializers.FloatField(allow_null=True)


class DriftReportSerializer(serializers.ModelSerializer):
    """A report: its status while it is computed (and its run's), then the verdict and each column."""

    run = serializers.UUIDField(source="run_id", read_only=True, allow_null=True)
    run_status = serializers.SerializerMethodField()
    monitor = serializers.UUIDField(source="monitor_id", read_only=True, allow_null=True)
    columns = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = DriftReport
        fields = [
            "id",
            "url",
            "status",
            "message",
            "run",
            "run_status",
            "monitor",
            "reference",
            "current",
            "window_start",
            "window_end",
            "dataset_drift",
            "drift_share",
            "drift_share_threshold",
            "n_columns",
            "n_drifted",
            "rows_reference",
            "rows_current",
            "columns",
            "skipped",
            "created_at",
            "finished_at",
        ]

    def get_run_status(self, report) -> str | None:
        return report.run.status if report.run_id else None

    @extend_schema_field(serializers.DictField(child=ColumnResultSerializer()))
    def get_columns(self, report) -> dict:
        if not self.context.get("with_columns", True):
            return {}
        return {row.column: row.as_dict() for row in report.column_results.all()}


class DriftReportBriefSerializer(DriftReportSerializer):
    """A report in a list (reports over time): the verdict without the columns."""

    class Meta(DriftReportSerializer.Meta):
        fields = [f for f in DriftReportSerializer.Meta.fields if f not in {"columns", "skipped"}]


class MonitorSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Monitor
        fields = [
            "id",
            "url",
            "name",
            "team",
            "source",
            "endpoint_id",
            "endpoint_name",
            "dataset",
            "reference",
            "reference_label",
            "reference_rows",
            "window_hours",
            "schedule",
            "cron",
            "volume_rows",
            "volume_seen",
            "volume_since",
            "columns",
            "enabled",
            "alert_on_dataset_drift",
            "alert_feature_windows",
            "alert_missing_jump",
            "retrain_template",
            "retrain_on",
            "retrain_environment",
            "label_column",
            "retrain_data",
            "webhook_url",
            "status",
            "status_message",
            "last_window_end",
            "last_drift_share",
            "next_due_at",
            "created_at",
        ]


class MonitorCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    endpoint = serializers.CharField(required=False, default="", allow_blank=True, max_length=100)
    dataset = serializers.CharField(required=False, default="", allow_blank=True, max_length=500)
    reference = serializers.JSONField(
        help_text='{"dataset": <path under the data root>} or, for an endpoint, {"start": <time>, "end": <time>}.'
    )
    window_hours = serializers.JSONField(required=False, default=24)
    schedule = serializers.CharField(
        required=False,
        default="daily",
        help_text='"hourly", "daily", "cron" (with cron) or "volume" (with volume_rows; an endpoint monitor).',
    )
    cron = serializers.JSONField(
        required=False,
        default="",
        help_text='For "cron": 5 fields in UTC, e.g. "0 6 * * 1-5"; a firing '
        "evaluates the time since the previous firing.",
    )
    volume_rows = serializers.JSONField(
        required=False,
        default=None,
        allow_null=True,
        help_text='For "volume": a window once this many new input rows are captured (the rows since the last window).',
    )
    columns = serializers.JSONField(required=False, default=dict)
    alert_on_dataset_drift = serializers.JSONField(required=False, default=True)
    alert_feature_windows = serializers.JSONField(required=False, default=3)
    alert_missing_jump = serializers.JSONField(required=False, default=0)
    retrain_template = serializers.JSONField(required=False, default="")
    retrain_on = serializers.JSONField(required=False, default="dataset_drift")
    retrain_environment = serializers.JSONField(required=False, default="staging")
    label_column = serializers.JSONField(
        required=False,
        default="",
        help_text="The window's column carrying the outcome (blank: the model's label column). With labels, the "
        "retraining trains on the window's labelled rows.",
    )
    retrain_data = serializers.JSONField(
        required=False,
        default="window_and_training",
        help_text='"window_and_training" (the labelled rows after the model\'s training data) or "window" (alone).',
    )
    webhook_url = serializers.JSONField(required=False, default="")
    webhook_secret = serializers.JSONField(
        required=False,
        default=None,
        help_text=SIGNING_KEY_HELP,
    )


class MonitorCreatedSerializer(MonitorSerializer):
    """A monitor as created or changed: with its webhook's new secret, shown this once."""

    webhook_secret = serializers.CharField(source="webhook_secret_clear", read_only=True, default="")

    class Meta(MonitorSerializer.Meta):
        fields = [*MonitorSerializer.Meta.fields, "webhook_secret"]


class MonitorUpdateSerializer(StrictSerializer):
    name = serializers.JSONField(required=False)
    window_hours = serializers.JSONField(required=False)
    schedule = serializers.JSONField(required=False)
    cron = serializers.JSONField(required=False)
    volume_rows = serializers.JSONField(required=False, allow_null=True)
    columns = serializers.JSONField(required=False)
    enabled = serializers.JSONField(required=False)
    alert_on_dataset_drift = serializers.JSONField(required=False)
    alert_feature_windows = serializers.JSONField(required=False)
    alert_missing_jump = serializers.JSONField(required=False)
    retrain_template = serializers.JSONField(required=False)
    retrain_on = serializers.JSONField(required=False)
    retrain_environment = serializers.JSONField(required=False)
    label_column = serializers.JSONField(required=False)
    retrain_data = serializers.JSONField(required=False)
    webhook_url = serializers.JSONField(required=False)
    webhook_secret = serializers.JSONField(required=False, help_text=SIGNING_KEY_HELP)
    rotate_webhook_secret = serializers.JSONField(required=False)


class RetrainingSerializer(serializers.ModelSerializer):
    """What an alert started: its retraining run, then the challenger and the promotion request."""

    run = serializers.UUIDField(source="run_id", read_only=True, allow_null=True)
    model_version = serializers.UUIDField(source="model_version_id", read_only=True, allow_null=True)
    promotion_request = serializers.UUIDField(source="promotion_request_id", read_only=True, allow_null=True)

    class Meta:
        model = Retraining
        fields = [
            "id",
            "template_slug",
            "status",
            "message",
            "run",
            "trained_on",
            "trained_on_note",
            "window_dataset",
            "window_rows",
            "labelled_rows",
            "training_rows",
            "model_version",
            "promotion_request",
            "created_at",
        ]


class DriftAlertSerializer(serializers.ModelSerializer):
    open = serializers.BooleanField(source="is_open", read_only=True)
    opened_report = serializers.UUIDField(source="opened_report_id", read_only=True, allow_null=True)
    last_report = serializers.UUIDField(source="last_report_id", read_only=True, allow_null=True)
    retrainings = RetrainingSerializer(many=True, read_only=True)
    webhook = WebhookDeliverySerializer(
        source="*",
        read_only=True,
        allow_null=True,
        help_text="How the alert's newest delivery to the monitor's webhook went (its opening, then its "
        "resolution); null when the monitor had no webhook.",
    )

    class Meta:
        model = DriftAlert
        fields = [
            "id",
            "rule",
            "column",
            "message",
            "open",
            "windows",
            "opened_report",
            "last_report",
            "created_at",
            "resolved_at",
            "retrainings",
            "webhook",
        ]
