"""Part of the AWS STAND-IN (moto, not AWS): SageMaker Runtime's InvokeEndpoint,
patched into moto's response class.

What it adds to moto, and why: moto answers InvokeEndpoint from a queue of
canned results (``seed_invocations``). With ``programs_dir`` the answer comes
from the endpoint's real model instead (``..programs``), as SageMaker's
scikit-learn container would give it; a model's complaint about the request is
a ``ModelError`` (HTTP 424), as on AWS. Without ``programs_dir``, or for an
endpoint with no program behind it, moto's queue answers as before.
"""

from __future__ import annotations

from .. import programs


def patch() -> None:
    """With programs_dir, InvokeEndpoint answers with the endpoint's real model (..programs).
    (The response is patched, not the backend: moto's backend is not told the endpoint's name.)"""
    from urllib.parse import unquote

    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    class ModelError(JsonRESTError):
        code = 424

        def __init__(self, message: str):
            super().__init__("ModelError", message)

    original = SageMakerRuntimeResponse.invoke_endpoint

    def invoke_endpoint(self):
        if not programs.enabled():
            return original(self)
        sagemaker = sagemaker_backends[self.current_account][self.region]
        name = unquote(self.path.split("/")[2])  # /endpoints/<name>/invocations
        body = self.body.decode() if isinstance(self.body, bytes) else self.body
        try:
            answer = programs.invoke(
                sagemaker, name, body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
        except (ValueError, KeyError, TypeError) as exc:  # what the model's handlers say of a bad request
            raise ModelError(f'Received client error (400) from primary with message "{exc}".') from None
        if answer is None:
            return original(self)
        content, content_type, variant = answer
        return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}, content

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint
