from django.conf import settings
from django.db import models

from apps.backends.registry import connection_settings
from apps.core.models import BaseModel


class Connection(BaseModel):
    """A cloud account the portal works in. Secrets are stored encrypted
    (apps.core.crypto) and are never shown back, returned or logged."""

    class Kind(models.TextChoices):
        SAGEMAKER = "sagemaker", "AWS SageMaker"
        DATABRICKS = "databricks", "Databricks"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    secrets_ciphertext = models.TextField(blank=True, editable=False)
    teams = models.ManyToManyField("accounts.Team", related_name="connections", blank=True)
    is_sandbox = models.BooleanField(default=False, help_text="Points at a local stand-in, not a real cloud.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_report = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def __repr__(self):  # never the secrets
        return f"<Connection {self.name} ({self.kind})>"

    @property
    def secret_names(self) -> list[str]:
        return [setting.name for setting in connection_settings(self.kind) if setting.secret]

    @property
    def last_test_ok(self) -> bool | None:
        if not self.last_test_report:
            return None
        return all(check["ok"] for check in self.last_test_report)
