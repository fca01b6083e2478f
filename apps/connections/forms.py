from django import forms

from apps.accounts.models import Team

from .models import FIELDS, Connection

LABELS = {
    "region": "AWS region",
    "endpoint_url": "Endpoint URL (optional: a stand-in or a VPC endpoint)",
    "role_arn": "Role to assume (optional)",
    "execution_role_arn": "SageMaker execution role",
    "external_id": "External id for the role (optional)",
    "output_s3_uri": "S3 URI for job outputs (s3://bucket/prefix)",
    "rollback_alarms": "CloudWatch alarms that roll a deployment back (comma-separated)",
    "session_token": "Session token (optional)",
    "host": "Workspace URL",
    "catalog": "Unity Catalog catalog (default: main)",
    "schema": "Unity Catalog schema (default: default)",
    "account_id": "Account id (for billable usage)",
    "dbu_price": "Price of one DBU (optional)",
    "code_folder": "Workspace folder for Atrium's job code (default: /Workspace/Shared/atrium)",
    "data_root": "Folder of file datasets and predictions (default: /Volumes/<catalog>/<schema>/atrium)",
    "node_type_id": "Node type for job clusters",
    "existing_cluster_id": "Existing cluster id (optional)",
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
