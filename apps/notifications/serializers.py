"""How an alert's webhook delivery went, as the APIs that list alerts show it (the alerts' own
serializers nest it): labelled fields, never the secret or the signature."""

from rest_framework import serializers


class WebhookDeliverySerializer(serializers.Serializer):
    """A ``WebhookDelivery``'s fields; null when the alert had no webhook to go to. Nest it with
    ``source="*"``."""

    state = serializers.CharField(
        source="webhook_state",
        help_text='"waiting" (to be sent, or tried again after a failed attempt), "delivered", "failed" '
        '(the last attempt did not go through) or "refused" (the URL is on the portal\'s own network).',
    )
    event = serializers.CharField(
        source="webhook_event",
        help_text='The delivery this describes, by its payload\'s event, e.g. "alert.opened", "alert.resolved".',
    )
    attempts = serializers.IntegerField(source="webhook_attempts", help_text="Attempts made so far.")
    last_attempt_at = serializers.DateTimeField(
        source="webhook_attempted_at", allow_null=True, help_text="When the last attempt ended."
    )
    status_code = serializers.IntegerField(
        source="webhook_status_code",
        allow_null=True,
        help_text="The receiver's HTTP status at the last attempt; null when it did not answer.",
    )
    error = serializers.CharField(
        source="webhook_error",
        help_text='Why it did not go through, in words, e.g. "The receiver answered 500", "Could not connect: …".',
    )
    summary = serializers.CharField(
        source="webhook_summary",
        help_text='All of it in a line, e.g. "failed after 6 attempts — the receiver answered 500".',
    )

    def to_representation(self, instance):
        return super().to_representation(instance) if instance.webhook_state else None
