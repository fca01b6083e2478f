from django import forms

from apps.accounts.models import Team
from apps.backends.base import ConnectionSetting
from apps.backends.registry import connection_settings

from .models import Connection


class ConnectionForm(forms.Form):
    """Fields follow the kind; secret fields are never filled back in."""

    name = forms.CharField(max_length=100)
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, kind: str, connection: Connection | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.settings = connection_settings(kind)  # as the backend declares them
        for setting in self.settings:
            self.fields[setting.name] = _field(setting, stored=connection is not None)
        if connection is not None:
            self.fields["name"].disabled = True

    def split(self) -> tuple[dict, dict]:
        data = self.cleaned_data
        config = {s.name: data[s.name] for s in self.settings if not s.secret}
        secrets = {s.name: data[s.name] for s in self.settings if s.secret}
        return config, secrets

    def add_service_errors(self, errors: dict) -> None:
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


def _field(setting: ConnectionSetting, *, stored: bool) -> forms.CharField:
    """A form field for a declared setting. Required settings are checked by the
    service (a stored secret left blank is kept), so no field is required here."""
    help_text = " ".join(
        part for part in (setting.help, f"Default: {setting.default}." if setting.default else "") if part
    )
    if not setting.secret:
        return forms.CharField(label=setting.label, required=False, help_text=help_text)
    if stored:
        help_text = f"{help_text} Stored encrypted. Leave blank to keep the stored value.".strip()
    return forms.CharField(
        label=setting.label,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )
