from django import forms

from apps.core.forms import FilterForm
from apps.deployments.forms import DeploymentForm

from . import evidence
from .models import Decision, Status
from .presenters import label_of

TABS = (("to_decide", "Waiting for me"), ("mine", "My requests"), ("all", "All"))


class InboxFilterForm(FilterForm):
    primary = ("q", "status", "environment")

    q = forms.CharField(
        required=False, max_length=200, label="Model", widget=forms.TextInput(attrs={"placeholder": "Model name"})
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False, label="Status")
    environment = forms.ChoiceField(required=False, label="Environment")

    def __init__(self, *args, environments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [("", "Any environment"), *((name, name) for name in environments)]

    def value(self, name: str) -> str:
        return (self.cleaned_data.get(name) or "") if self.is_valid() else ""


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[(v, v) for v in Decision.Verdict.values])
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


# The deployment fields a promotion may leave out: each strategy's settings default as on the deploy form.
OPTIONAL_ROLLOUT = ("percent", "bake_seconds", "step_percent", "interval_seconds", "termination_wait_seconds")


class PromotionForm(DeploymentForm):
    """A promotion request: the environment, why, and the deployment that
    follows the approval (the deploy form's own fields), or none."""

    environment = forms.ChoiceField(label="Environment")
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Why promote it?",
        help_text="The approvers read this beside the evidence.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    promote_only = forms.BooleanField(
        required=False,
        label="Don't deploy, only promote",
        help_text="Approval sets the environment's alias on the version in its registry; nothing is deployed.",
    )
    field_order = ["environment", "reason", "promote_only"]

    def __init__(self, *args, environments=(), model_name="", **kwargs):
        super().__init__(*args, **kwargs)
        names = [e.name for e in environments]
        self.fields["environment"].choices = [(n, n) for n in names]
        if "production" in names:
            self.fields["environment"].initial = "production"
        endpoint = self.fields["endpoint"]
        endpoint.required = False
        example = f"{model_name}-{names[0]}" if names else model_name
        endpoint.help_text = f"Empty: the model's name and the environment ({example.lower()}). " + endpoint.help_text
        for name in OPTIONAL_ROLLOUT:
            self.fields[name].required = False

    @property
    def deploys(self) -> bool:
        return not self.cleaned_data.get("promote_only")

    def clean(self):
        data = super().clean()
        if data.get("promote_only"):  # the deployment's fields are not asked for: their errors do not count
            for name in set(DeploymentForm.base_fields) & set(self._errors):
                del self._errors[name]
        return data

    def rollout(self) -> dict:
        for name in OPTIONAL_ROLLOUT:
            if self.cleaned_data.get(name) is None:
                self.cleaned_data[name] = self.fields[name].initial
        return super().rollout()

    def deployment(self, *, endpoint_default: str) -> dict | None:
        if not self.deploys:
            return None
        return {
            "endpoint": self.cleaned_data.get("endpoint") or endpoint_default,
            "target": self.cleaned_data["target"],
            "instance_count": self.cleaned_data["instance_count"],
            "rollout": self.rollout(),
        }


def check_field(key: str, setting: str = "required") -> str:
    return f"check__{key}__{setting}"


class EnvironmentForm(forms.Form):
    """An environment's policy: the quorum, who approves, expiry, and per
    registered evidence check whether it must pass and its thresholds."""

    team = forms.ChoiceField(label="Team")
    name = forms.CharField(
        max_length=50,
        label="Name",
        help_text="Also the registry alias an approval sets, e.g. staging or production.",
    )
    description = forms.CharField(max_length=300, required=False, label="Description")
    approvals_required = forms.IntegerField(min_value=1, max_value=10, initial=1, label="Approvals needed")
    approver_teams = forms.MultipleChoiceField(
        required=False,
        label="Approver teams",
        help_text="None chosen: the approvers of the environment's own team.",
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    expiry_days = forms.IntegerField(min_value=1, max_value=90, initial=7, label="Requests expire after (days)")
    sensitive_column = forms.CharField(
        max_length=200,
        required=False,
        label="Sensitive column",
        help_text="For the bias check: metrics per group of this column (empty: the dataset's own, if any).",
    )

    def __init__(self, *args, teams=(), environment=None, policy=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.teams = {str(t.pk): t for t in teams}
        self.environment = environment
        if environment is not None:  # editing: the team and the name stay
            del self.fields["team"]
            del self.fields["name"]
        else:
            self.fields["team"].choices = [(pk, t.name) for pk, t in self.teams.items()]
        self.fields["approver_teams"].choices = [(pk, t.name) for pk, t in self.teams.items()]
        current = (policy.checks or {}) if policy is not None else {}
        self.checks_shown = []
        for check in evidence.checks_ordered():
            chosen = current.get(check.key) or {}
            required = forms.BooleanField(
                required=False, label=f"{check.label} must pass", initial=bool(chosen.get("required"))
            )
            self.fields[check_field(check.key)] = required
            names = []
            for setting, default in check.settings.items():
                label, unit = label_of(setting)
                self.fields[check_field(check.key, setting)] = forms.FloatField(
                    required=False,
                    min_value=0,
                    label=f"{label}{f' ({unit})' if unit else ''}",
                    initial=chosen.get(setting, default),
                    help_text=f"Default {default if default is not None else 'none'}; empty: none.",
                )
                names.append(check_field(check.key, setting))
            self.checks_shown.append((check, check_field(check.key), names))
        if policy is not None:
            self.initial.update(
                approvals_required=policy.approvals_required,
                expiry_days=policy.expiry_days,
                sensitive_column=policy.sensitive_column,
                approver_teams=[str(t.pk) for t in policy.approver_teams.all()],
            )
        if environment is not None:
            self.initial.setdefault("description", environment.description)

    def check_groups(self) -> list[dict]:
        """Per check: its help, its "must pass" box and its threshold fields (for the template)."""
        return [
            {"check": check, "required": self[required], "thresholds": [self[n] for n in names]}
            for check, required, names in self.checks_shown
        ]

    def checks(self) -> dict:
        data = self.cleaned_data
        found = {}
        for check, required, names in self.checks_shown:
            settings = {"required": bool(data.get(required))}
            for name, setting in zip(names, check.settings, strict=True):
                value = data.get(name)
                settings[setting] = int(value) if value is not None and float(value).is_integer() else value
            found[check.key] = settings
        return found

    def chosen_team(self):
        return self.environment.team if self.environment is not None else self.teams[self.cleaned_data["team"]]

    def approver_team_list(self) -> list:
        return [self.teams[pk] for pk in self.cleaned_data.get("approver_teams") or [] if pk in self.teams]
