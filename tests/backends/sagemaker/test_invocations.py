"""The gateway's reading of SageMaker Runtime's errors: a ModelError (424) is the container's own answer."""

import json

from apps.backends.sagemaker.invocations import model_answer


def model_error(status, original="boom"):
    return json.dumps({"message": "Received server error", "OriginalStatusCode": status, "OriginalMessage": original})


def test_a_model_error_is_the_container_s_status_and_message():
    status, body = model_answer(424, model_error(500, "AttributeError: fails on purpose").encode())
    assert status == 500
    assert json.loads(body) == {"error_code": "MODEL_ERROR", "message": "AttributeError: fails on purpose"}
    assert model_answer(424, model_error(400).encode())[0] == 400


def test_anything_else_passes_through():
    assert model_answer(400, model_error(500).encode()) is None  # SageMaker's own errors (validation, throttling)
    assert model_answer(424, b"<html>not json</html>") is None
    assert model_answer(424, json.dumps({"OriginalStatusCode": 200}).encode()) is None
    assert model_answer(424, json.dumps(["no", "object"]).encode()) is None
