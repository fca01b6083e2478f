"""Part of the AWS STAND-IN (moto, not AWS): SageMaker Runtime's InvokeEndpoint,
patched into moto's response class.

What it adds to moto, and why: moto answers InvokeEndpoint from a queue of
canned results (``seed_invocations``). With ``programs_dir`` the answer comes
from the endpoint's real model instead (``..programs``), as SageMaker's
scikit-learn container would give it, from the variant the request's
``TargetVariant`` header names (whatever its weight) or else one picked by
weight. A container's error is a ``ModelError`` (HTTP 424) carrying the
container's own status, as on AWS: 400 for the handlers' complaints about the
request, 500 for anything else they raise (a model that fails), with
``OriginalStatusCode``, ``OriginalMessage`` and ``LogStreamArn``. A target
variant the endpoint lacks is a ``ValidationError``. Without ``programs_dir``,
or for an endpoint with no program behind it, moto's queue answers as before.
"""

from __future__ import annotations

import json

from .. import programs

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"


def patch() -> None:
    """With programs_dir, InvokeEndpoint answers with the endpoint's real model (..programs).
    (The response is patched, not the backend: moto's backend is not told the endpoint's name.)"""
    from urllib.parse import unquote

    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    class ModelError(JsonRESTError):
        code = 424

        def __init__(self, status: int, original: str, *, endpoint: str, region: str, account: str):
            group = f"/aws/sagemaker/Endpoints/{endpoint}"
            console = (
                f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group}"
            )
            kind = "client" if status < 500 else "server"
            message = (
                f'Received {kind} error ({status}) from primary with message "{original}". '
                f"See {console} in account {account} for more information."
            )
            super().__init__("ModelError", message)
            self.description = json.dumps(
                {
                    "__type": "ModelError",
                    "message": message,
                    "OriginalStatusCode": status,
                    "OriginalMessage": original,
                    "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{group}",
                }
            )

    class ValidationError(JsonRESTError):
        code = 400

        def __init__(self, message: str):
            super().__init__("ValidationError", message)

    original = SageMakerRuntimeResponse.invoke_endpoint

    def invoke_endpoint(self):
        if not programs.enabled():
            return original(self)
        sagemaker = sagemaker_backends[self.current_account][self.region]
        name = unquote(self.path.split("/")[2])  # /endpoints/<name>/invocations
        body = self.body.decode() if isinstance(self.body, bytes) else self.body
        where = {"endpoint": name, "region": self.region, "account": self.current_account}
        try:
            answer = programs.invoke(
                sagemaker,
                name,
                body,
                self.headers.get("Content-Type"),
                self.headers.get("Accept"),
                self.headers.get(TARGET_VARIANT_HEADER),
            )
        except programs.UnknownVariant as exc:
            raise ValidationError(str(exc)) from None
        except (ValueError, KeyError, TypeError) as exc:  # what the model's handlers say of a bad request
            raise ModelError(400, str(exc), **where) from None
        except Exception as exc:  # anything else the handlers raise: the container answers 500
            raise ModelError(500, f"{type(exc).__name__}: {exc}", **where) from None
        if answer is None:
            return original(self)
        content, content_type, variant = answer
        return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}, content

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint
