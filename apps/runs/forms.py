import json

from django import forms

from apps.backends import registry
from apps.backends.training import ALGORITHMS, dataset_names
from apps.core.forms import FilterForm
from apps.core.parsers import parse_json

from .models import RunKind, RunStatus


class RunFilterForm(FilterForm):
    primary = ("status", "mine")

    status = forms.ChoiceField(
        label="State", choices=[("", "Any state"), ("open", "Open (not finished)"), *RunStatus.choices], required=False
    )
    kind = forms.ChoiceField(choices=[("", "Any kind"), *RunKind.choices], required=False)
    backend = forms.ChoiceField(choices=[("", "Any backend"), *registry.LABELS.items()], required=False)
    mine = forms.BooleanField(required=False, label="Mine only")


class TrainingForm(forms.Form):
    """The HTML face of a training request; the service does the checking."""

    team = forms.ModelChoiceField(queryset=None, empty_label=None)
    connection = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Run on",
        empty_label="This machine (local: scikit-learn + MLflow)",
        help_text="Or a cloud connection your team may use (SageMaker, Databricks).",
    )
    instance_type = forms.CharField(
        required=False, help_text="Cloud only, e.g. ml.m5.large or ml.g5.xlarge; blank for the default."
    )
    model_name = forms.CharField(max_length=100, help_text="Registered model name, e.g. churn-classifier.")
    dataset = forms.CharField(
        initial="breast_cancer",
        help_text=f"One of {', '.join(dataset_names())}, or a .csv/.parquet path below the data folder.",
    )
    target_column = forms.CharField(required=False, help_text="For CSV/Parquet files: the column to predict.")
    task = forms.ChoiceField(
        choices=[("", "From the dataset"), ("classification", "Classification"), ("regression", "Regression")],
        required=False,
    )
    algorithm = forms.ChoiceField(
        choices=[(name, name.replace("_", " ")) for name in ALGORITHMS], initial="random_forest"
    )
    hyperparameters = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        initial='{"n_estimators": 100}',
        help_text="JSON object of scikit-learn parameters.",
    )

    def __init__(self, *args, teams, connections, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["connection"].queryset = connections

    def clean_hyperparameters(self):
        raw = self.cleaned_data["hyperparameters"].strip()
        if not raw:
            return {}
        try:
            value = parse_json(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from exc
        except ValueError as exc:  # nested too deeply
            raise forms.ValidationError(str(exc)) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object.")
        return value

    def params(self) -> dict:
        data = self.cleaned_data
        params = {key: data[key] for key in ("dataset", "algorithm", "hyperparameters", "model_name")}
        for optional in ("target_column", "task", "instance_type"):
            if data[optional]:
                params[optional] = data[optional]
        return params

    def add_service_errors(self, errors: dict) -> None:
        """Put each service error beside its field (nested ones flattened)."""
        for field, value in errors.items():
            if field == "params":
                self.add_service_errors(value)
            elif isinstance(value, dict):
                for sub, messages in value.items():
                    for message in messages:
                        self.add_error(field if field in self.fields else None, f"{sub}: {message}")
            else:
                for message in value:
                    self.add_error(field if field in self.fields else None, message)
