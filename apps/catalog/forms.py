from django import forms

from apps.backends import registry
from apps.core.forms import FilterForm

from .models import TemplateKind


class CatalogFilterForm(FilterForm):
    primary = ("q", "kind")

    q = forms.CharField(required=False, max_length=200, label="Search")
    kind = forms.ChoiceField(choices=[("", "Any kind"), *TemplateKind.choices], required=False)
    tag = forms.SlugField(required=False)
    owner = forms.SlugField(required=False, label="Owner team")
    backend = forms.ChoiceField(choices=[("", "Any backend"), *registry.LABELS.items()], required=False)


class LaunchTargetForm(forms.Form):
    """Where a template runs: the team that owns the run, and the backend --
    this machine or a cloud connection the team may use."""

    team = forms.ModelChoiceField(queryset=None, empty_label=None)
    connection = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Run on",
        empty_label="This machine (local: scikit-learn + MLflow)",
    )
    name = forms.CharField(
        required=False, max_length=200, label="Run name", help_text="Blank for a name from the inputs."
    )

    def __init__(self, *args, teams, connections, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["connection"].queryset = connections


class TemplateEditForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "class": "code", "spellcheck": "false"}), label="Template (YAML)"
    )
