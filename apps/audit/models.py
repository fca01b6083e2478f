"""The audit trail: who decided what, on which object, when. Append-only --
no service updates or deletes a row, and the admin cannot either."""

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)  # ordered, cheap to page through
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150)  # kept should the account go
    # The team that owns the target; None for portal-wide objects (connections, templates' owners aside).
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=60)  # "<area>.<verb>", e.g. "model.alias_set"
    target_type = models.CharField(max_length=60)  # app_label.model of the target
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=300)  # what the target was called then
    data = models.JSONField(default=dict, blank=True)  # the decision's details; never a secret

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["team", "-id"]),
            models.Index(fields=["action", "-id"]),
            models.Index(fields=["target_type", "target_id"]),
        ]

    def __str__(self):
        return f"{self.actor_name} {self.action} {self.target_label}"

    @property
    def verb(self) -> str:
        """For people: "model.alias_set" -> "alias set"."""
        return self.action.split(".", 1)[-1].replace("_", " ")

    @property
    def details(self) -> list[tuple[str, object]]:
        """The data for people: "moved_from" -> "moved from", empty values left out."""
        return [(key.replace("_", " "), value) for key, value in self.data.items() if value not in (None, "", [], {})]
