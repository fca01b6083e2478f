from django import forms

from apps.monitoring.drift import METHODS
from apps.notifications.forms import WebhookForm

from .models import AlertRule, RetrainData, Schedule

COLUMNS_HELP = (
    "One column a line: its name, a method and a threshold, e.g. “age psi 0.2”. "
    f"Methods: {', '.join(METHODS)}. Columns not listed get Evidently's default test."
)


class MonitorForm(WebhookForm):
    name = forms.CharField(max_length=100)
    endpoint = forms.ChoiceField(
        required=False, label="Endpoint", help_text="Watch the traffic the gateway captures for this endpoint…"
    )
    dataset = forms.CharField(
        required=False, max_length=500, label="…or a dataset", help_text="A .parquet or .csv path under the data root."
    )
    reference_version = forms.ChoiceField(
        required=False,
        label="Reference: the training data of",
        help_text="The features the model version was trained on (as its training job read them)…",
    )
    reference_dataset = forms.CharField(
        required=False,
        max_length=500,
        label="…or a reference dataset",
        help_text="A .parquet or .csv path under the data root…",
    )
    reference_start = forms.DateTimeField(
        required=False,
        label="…or a window of the endpoint's traffic, from (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    reference_end = forms.DateTimeField(
        required=False, label="to (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    window_hours = forms.IntegerField(min_value=1, max_value=24 * 31, initial=24, label="Window (hours)")
    schedule = forms.ChoiceField(
        choices=Schedule.choices,
        initial=Schedule.DAILY,
        help_text="Hourly and daily windows are the last “Window (hours)”; a cron firing evaluates the time "
        "since the previous firing; a capture-volume window, the rows since the last window.",
    )
    cron = forms.CharField(
        required=False,
        max_length=100,
        label="Cron expression (UTC)",
        help_text="For the cron schedule: minute hour day-of-month month day-of-week, "
        "e.g. “0 6 * * 1-5” (06:00 UTC on weekdays) or “*/30 * * * *”.",
    )
    volume_rows = forms.IntegerField(
        required=False,
        min_value=1,
        label="Capture volume (input rows)",
        help_text="For the capture-volume schedule: a window once this many new input rows of the endpoint "
        "are captured.",
    )
    columns = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text=COLUMNS_HELP)
    alert_on_dataset_drift = forms.BooleanField(required=False, initial=True, label="Alert when the dataset drifts")
    alert_feature_windows = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=3,
        label="Alert when a feature drifts this many windows in a row",
        help_text="0: no feature alert.",
    )
    alert_missing_jump = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        initial=0,
        label="Alert when a feature's missing share rises by more than (points)",
        help_text="Percentage points on the reference's missing share; 0: no missing-value alert.",
    )
    retrain_template = forms.ChoiceField(
        required=False,
        label="Retrain with",
        help_text="A catalogue train template started on the window's data when an alert of the rule below "
        "opens (the reference must be a model version: that model is retrained).",
    )
    retrain_on = forms.ChoiceField(
        choices=AlertRule.choices, initial="dataset_drift", label="Retrain on the alert", required=False
    )
    retrain_environment = forms.CharField(
        max_length=50, initial="staging", label="Ask the retrained version into", required=False
    )
    label_column = forms.CharField(
        max_length=200,
        required=False,
        label="Label column of the window",
        help_text="The column that carries the outcome (clients send it with each request, or the dataset has "
        "it). Blank: the model's own label column. Without labels, the retraining uses the training data.",
    )
    retrain_data = forms.ChoiceField(
        choices=RetrainData.choices, initial=RetrainData.WINDOW_AND_TRAINING, label="Retrain on", required=False
    )

    def __init__(self, *args, endpoints=(), versions=(), templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["retrain_template"].choices = [("", "— no retraining")] + [(t.slug, t.name) for t in templates]
        self.fields["endpoint"].choices = [("", "—")] + [(name, name) for name in endpoints]
        self.fields["reference_version"].choices = [("", "—")] + [
            (str(v.pk), f"{v.model.name} v{v.version}") for v in versions
        ]

    def clean(self):
        data = super().clean()
        chosen = [data.get(f) for f in ("reference_version", "reference_dataset", "reference_start", "reference_end")]
        if not any(chosen) and not self.errors:
            # in words here: the service's own message names the API's JSON shapes
            self.add_error(
                "reference_version",
                "Choose a reference: the training data of a model version, a reference dataset, "
                "or a window of the endpoint's traffic (from and to).",
            )
        return data

    def clean_columns(self) -> dict:
        columns = {}
        for number, line in enumerate(self.cleaned_data["columns"].splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 3:
                raise forms.ValidationError(f"Line {number}: a name, a method and a threshold, no more.")
            options = {}
            if len(parts) > 1:
                options["method"] = parts[1]
            if len(parts) > 2:
                try:
                    options["threshold"] = float(parts[2])
                except ValueError:
                    raise forms.ValidationError(f"Line {number}: the threshold {parts[2]!r} is not a number.") from None
            if not options:
                raise forms.ValidationError(f"Line {number}: give {parts[0]} a method.")
            columns[parts[0]] = options
        return columns

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        if data["reference_version"]:
            reference = {"model_version": data["reference_version"]}
        elif data["reference_dataset"]:
            reference = {"dataset": data["reference_dataset"]}
        elif data["reference_start"] or data["reference_end"]:
            reference = {
                "start": data["reference_start"].isoformat() if data["reference_start"] else "",
                "end": data["reference_end"].isoformat() if data["reference_end"] else "",
            }
        else:
            reference = {}
        return {
            "name": data["name"],
            "endpoint": data["endpoint"],
            "dataset": data["dataset"],
            "reference": reference,
            "window_hours": data["window_hours"],
            "schedule": data["schedule"],
            "cron": data["cron"],
            "volume_rows": data["volume_rows"],
            "columns": data["columns"],
            "alert_on_dataset_drift": data["alert_on_dataset_drift"],
            "alert_feature_windows": data["alert_feature_windows"],
            "alert_missing_jump": data["alert_missing_jump"] or 0,
            "retrain_template": data["retrain_template"],
            "retrain_on": data["retrain_on"] or "dataset_drift",
            "retrain_environment": data["retrain_environment"] or "staging",
            "label_column": data["label_column"],
            "retrain_data": data["retrain_data"] or RetrainData.WINDOW_AND_TRAINING,
            "webhook_url": data["webhook_url"],
            "webhook_secret": data["webhook_secret"],  # a str: blank needs a secret with a URL, as on a change
        }
