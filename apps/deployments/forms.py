from django import forms

from apps.backends.base import DEPLOY_TARGETS

from .models import EndpointState
from .rollouts import STRATEGIES

STRATEGY_LABELS = {
    "all_at_once": "All at once",
    "canary": "Canary: a share of traffic, bake, then all",
    "linear": "Linear: equal steps with an interval",
    "blue_green": "Blue/green: switch all, keep the old fleet for a while",
}
TARGET_LABELS = {"cpu": "CPU", "gpu": "GPU", "inferentia": "AWS Inferentia"}


class EndpointFilterForm(forms.Form):
    q = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "Name", "aria-label": "Name"}))
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Any state")] + [c for c in EndpointState.choices if c[0] != EndpointState.DELETED],
        widget=forms.Select(attrs={"aria-label": "State"}),
    )


class DeploymentForm(forms.Form):
    """Where and how a version is served: the endpoint, its hardware, the
    rollout and its automatic rollback. The deploy form adds the version; a
    promotion request (apps/approvals) asks for the same deployment, to start
    once it is approved. Its fieldsets: templates/deployments/_deployment_fields.html."""

    endpoint = forms.RegexField(
        regex=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$",
        max_length=63,
        label="Endpoint name",
        help_text="Letters, digits and '-'. A new name makes a new endpoint; an existing one gets the version.",
        error_messages={"invalid": "Use letters, digits and '-', starting with a letter or digit."},
    )
    target = forms.ChoiceField(choices=[(t, TARGET_LABELS[t]) for t in DEPLOY_TARGETS], initial="cpu", label="Hardware")
    instance_count = forms.IntegerField(min_value=1, max_value=100, initial=1, label="Instances")
    strategy = forms.ChoiceField(
        choices=[(s, STRATEGY_LABELS[s]) for s in STRATEGIES], initial="canary", label="Rollout"
    )
    percent = forms.IntegerField(min_value=1, max_value=99, initial=10, label="Canary share (%)")
    bake_seconds = forms.IntegerField(min_value=0, initial=300, label="Bake time (s)")
    step_percent = forms.IntegerField(min_value=1, max_value=50, initial=25, label="Linear step (%)")
    interval_seconds = forms.IntegerField(min_value=0, initial=300, label="Linear interval (s)")
    termination_wait_seconds = forms.IntegerField(min_value=0, initial=300, label="Keep the old fleet for (s)")
    max_error_rate = forms.FloatField(
        min_value=0, max_value=100, initial=5, label="Roll back above this error rate (%)"
    )
    max_p95_ms = forms.FloatField(min_value=0, required=False, label="Roll back above this p95 latency (ms)")
    # Against the baseline variant, judged on the same minutes of traffic.
    max_error_rate_increase = forms.FloatField(
        min_value=0,
        max_value=100,
        initial=2,
        required=False,
        label="Roll back above the baseline's error rate plus (points)",
    )
    max_p95_ratio = forms.FloatField(
        min_value=1, initial=2, required=False, label="Roll back above the baseline's p95 times"
    )

    ROLLOUT_KEYS = (
        "strategy",
        "percent",
        "bake_seconds",
        "step_percent",
        "interval_seconds",
        "termination_wait_seconds",
    )

    def rollout(self) -> dict:
        data = self.cleaned_data
        thresholds = {"max_error_rate": data["max_error_rate"] / 100}
        if data.get("max_error_rate_increase") is not None:
            thresholds["max_error_rate_increase"] = data["max_error_rate_increase"] / 100
        if data.get("max_p95_ratio") is not None:
            thresholds["max_p95_ratio"] = data["max_p95_ratio"]
        if data.get("max_p95_ms") is not None:
            thresholds["max_p95_ms"] = data["max_p95_ms"]
        return {**{k: data[k] for k in self.ROLLOUT_KEYS}, "thresholds": thresholds}


class DeployForm(DeploymentForm):
    version = forms.ChoiceField(label="Model version")
    field_order = ["version"]

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {str(v.pk): v for v in versions}
        self.fields["version"].choices = [
            (
                str(v.pk),
                f"{v.model.name} v{v.version}" + (f" · {v.model.connection.name}" if v.model.connection else ""),
            )
            for v in versions
        ]


class TrafficForm(forms.Form):
    """One weight per variant (fields named ``w-<variant>``)."""

    def __init__(self, *args, variants=(), weights=None, **kwargs):
        super().__init__(*args, **kwargs)
        for variant in variants:
            self.fields[f"w-{variant.name}"] = forms.IntegerField(
                min_value=0, max_value=100, label=variant.name, initial=(weights or {}).get(variant.name, 0)
            )

    def weights(self) -> dict:
        return {name[2:]: value for name, value in self.cleaned_data.items() if name.startswith("w-")}
