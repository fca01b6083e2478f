from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Notification(BaseModel):
    """An in-app message for one user, e.g. "your run succeeded"."""

    class Level(models.TextChoices):
        INFO = "info"
        SUCCESS = "success"
        ERROR = "error"
        ACTION = "action"  # someone must act, e.g. release a waiting step

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.CharField(max_length=500)
    url = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"])]

    def __str__(self):
        return self.message


class DeliveryState(models.TextChoices):
    WAITING = "waiting", "Waiting"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused"


class WebhookDelivery(models.Model):
    """How an alert's webhook delivery went, for the people who set the webhook: without it a
    receiver that never got the alert shows only in the worker's log. One delivery per alert
    (its newest: a drift alert's resolution takes over from its opening); recorded at each
    attempt by ``apps.notifications.deliveries``. Never the secret or the signature. A blank
    state: the alert had no webhook to go to."""

    webhook_state = models.CharField(max_length=10, choices=DeliveryState.choices, blank=True)
    webhook_event = models.CharField(max_length=40, blank=True)  # the payload's "event", e.g. "alert.resolved"
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_attempted_at = models.DateTimeField(null=True, blank=True)  # the last attempt
    webhook_status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # the receiver's answer
    webhook_error = models.CharField(max_length=500, blank=True)  # in words, e.g. "The receiver answered 500"

    class Meta:
        abstract = True

    @property
    def webhook_summary(self) -> str:
        """The delivery in words: "delivered (200)", "failed after 3 attempts — the receiver
        answered 500", "refused — webhooks may not be sent to …"; "" with no webhook."""
        state, attempts = self.webhook_state, self.webhook_attempts
        why = self.webhook_error.removeprefix("Refused: ")
        why = why[:1].lower() + why[1:]
        if state == DeliveryState.DELIVERED:
            after = f" after {attempts} attempts" if attempts > 1 else ""
            status = f" ({self.webhook_status_code})" if self.webhook_status_code else ""  # none before it was kept
            return f"delivered{after}{status}"
        if state == DeliveryState.FAILED:
            after = f" after {attempts} attempts" if attempts > 1 else ""
            return f"failed{after} — {why}"
        if state == DeliveryState.REFUSED:
            return f"refused — {why}"
        if state == DeliveryState.WAITING:
            return f"attempt {attempts} did not go through ({why}): trying again" if attempts else "waiting to be sent"
        return ""
