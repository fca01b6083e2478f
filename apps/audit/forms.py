from django import forms

from apps.core.forms import FilterForm


class AuditFilterForm(FilterForm):
    primary = ("actor", "target")

    action = forms.CharField(
        label="Action",
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"placeholder": "action, e.g. model."}),
    )
    actor = forms.CharField(
        label="By", required=False, max_length=150, widget=forms.TextInput(attrs={"placeholder": "user"})
    )
    target = forms.CharField(
        label="On", required=False, max_length=300, widget=forms.TextInput(attrs={"placeholder": "object name or id"})
    )

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {key: value.strip() for key, value in self.cleaned_data.items() if value and value.strip()}
