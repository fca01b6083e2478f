"""What a SageMaker endpoint's model answered, read out of SageMaker Runtime's
InvokeEndpoint errors for the inference gateway.

InvokeEndpoint answers any error of the model's container as a ``ModelError``
(HTTP 424) carrying the container's own status (``OriginalStatusCode``) and
body (``OriginalMessage``). The gateway gives its clients, and counts, what the
model said instead: a model that fails is a 5xx on SageMaker as on every other
backend (so the rollout controller counts it as an error), one refusing a
request a 4xx, in the gateway's error shape.
"""

from __future__ import annotations

import json

MODEL_ERROR_STATUS = 424


def model_answer(status: int, body: bytes) -> tuple[int, bytes] | None:
    """(the container's status, a gateway error body) for a ModelError; None for anything else."""
    if status != MODEL_ERROR_STATUS:
        return None
    try:
        error = json.loads(body)
    except ValueError:
        return None
    code = error.get("OriginalStatusCode") if isinstance(error, dict) else None
    if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
        return None
    message = error.get("OriginalMessage") or error.get("message") or error.get("Message") or ""
    return code, json.dumps({"error_code": "MODEL_ERROR", "message": str(message)}).encode()
