from django import forms

from apps.accounts.models import Team

from .models import FIELDS, Connection

LABELS = {
    "region": "AWS region",
    "endpoint_url": "Endpoint URL (optional: a stand-in or a VPC endpoint)",
    "role_arn": "Role to assume (optional)",
    "execution_role_arn": "SageMaker execution role",
    "bucket": "S3 bucket for artifacts",
    "host": "Workspace URL",
    "access_key_id": "Access key id",
    "secret_access_key": "Secret access key",
    "token": "Personal access token",
}


class ConnectionForm(forms.Form):
    """Fields follow the kind; secret fields are never filled back in."""

    name = forms.CharField(max_length=100)
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, kind: str, connection: Connection | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        for key in FIELDS[kind]["config"]:
            self.fields[key] = forms.CharField(label=LABELS.get(key, key), required=False)
        for key in FIELDS[kind]["secrets"]:
            stored = connection is not None
            self.fields[key] = forms.CharField(
                label=LABELS.get(key, key),
                required=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text="Stored encrypted. Leave blank to keep the stored value." if stored else "",
            )
        if connection is not None:
            self.fields["name"].disabled = True

    def split(self) -> tuple[dict, dict]:
        data = self.cleaned_data
        config = {key: data[key] for key in FIELDS[self.kind]["config"]}
        secrets = {key: data[key] for key in FIELDS[self.kind]["secrets"]}
        return config, secrets

    def add_service_errors(self, errors: dict) -> None:
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
