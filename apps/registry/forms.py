from django import forms

from apps.backends import registry as backend_registry
from apps.core.forms import FilterForm

from .selectors import ModelFilters

APPROVAL_CHOICES = [
    ("", "Any approval"),
    ("PendingManualApproval", "Pending approval"),
    ("Approved", "Approved"),
    ("Rejected", "Rejected"),
]
SORT_CHOICES = [("recent", "Newest version first"), ("name", "Name"), ("metric", "Metric (best first)")]


class ModelFilterForm(FilterForm):
    primary = ("q", "team", "sort")

    q = forms.CharField(required=False, label="Name", widget=forms.TextInput(attrs={"placeholder": "Search by name"}))
    tag = forms.CharField(
        required=False, max_length=200, widget=forms.TextInput(attrs={"placeholder": "tag or key=value"})
    )
    team = forms.ChoiceField(required=False)
    backend = forms.ChoiceField(choices=[("", "Any backend"), *backend_registry.LABELS.items()], required=False)
    alias = forms.CharField(
        required=False, max_length=100, widget=forms.TextInput(attrs={"placeholder": "alias, e.g. champion"})
    )
    stage = forms.CharField(
        label="Stage", required=False, max_length=40, widget=forms.TextInput(attrs={"placeholder": "stage"})
    )
    approval = forms.ChoiceField(label="Approval", choices=APPROVAL_CHOICES, required=False)
    sort = forms.ChoiceField(label="Sort by", choices=SORT_CHOICES, required=False)
    metric = forms.CharField(
        required=False, max_length=100, widget=forms.TextInput(attrs={"placeholder": "metric, e.g. accuracy"})
    )
    deleted = forms.BooleanField(required=False, label="Include deleted upstream")

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "Any team"), *((t.slug, t.name) for t in teams)]

    def filters(self) -> ModelFilters:
        if not self.is_valid():
            return ModelFilters()
        data = {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}
        return ModelFilters(**data)


class AliasForm(forms.Form):
    alias = forms.CharField(max_length=63)


class TagForm(forms.Form):
    key = forms.CharField(max_length=128)
    value = forms.CharField(max_length=256, required=False)
