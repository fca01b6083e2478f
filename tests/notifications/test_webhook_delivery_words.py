"""An alert's webhook delivery in words (``WebhookDelivery.webhook_summary``), the line people
read beside the alert and the API's ``summary``: each state says what happened and why."""

import pytest

from apps.costs.models import BudgetAlert

REFUSED = (
    "Refused: Webhooks may not be sent to the portal's own network (127.0.0.1 is a loopback address). "
    "An administrator can allow it with ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK."
)


@pytest.mark.parametrize(
    "fields, words",
    [
        ({}, ""),
        ({"webhook_state": "waiting"}, "waiting to be sent"),
        (
            {"webhook_state": "waiting", "webhook_attempts": 2, "webhook_error": "The receiver answered 502"},
            "attempt 2 did not go through (the receiver answered 502): trying again",
        ),
        ({"webhook_state": "delivered", "webhook_attempts": 1, "webhook_status_code": 200}, "delivered (200)"),
        (
            {"webhook_state": "delivered", "webhook_attempts": 3, "webhook_status_code": 202},
            "delivered after 3 attempts (202)",
        ),
        ({"webhook_state": "delivered", "webhook_attempts": 1}, "delivered"),  # recorded before statuses were kept
        (
            {"webhook_state": "failed", "webhook_attempts": 6, "webhook_error": "Could not connect: [Errno 111]"},
            "failed after 6 attempts — could not connect: [Errno 111]",
        ),
        (
            {"webhook_state": "failed", "webhook_attempts": 1, "webhook_error": "The receiver answered 404"},
            "failed — the receiver answered 404",
        ),
        (
            {"webhook_state": "refused", "webhook_attempts": 1, "webhook_error": REFUSED},
            "refused — webhooks may not be sent to the portal's own network (127.0.0.1 is a loopback address). "
            "An administrator can allow it with ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK.",
        ),
    ],
)
def test_each_state_in_words(fields, words):
    assert BudgetAlert(**fields).webhook_summary == words
