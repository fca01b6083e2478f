"""AWS clients from a connection's settings, AWS failures as BackendErrors,
and the naming and tagging rules every SageMaker module follows.

Clients are built from configuration only: the region, access keys or a role
to assume, and an optional ``endpoint_url`` (how the stand-in in
``apps/backends/sandbox/aws.py`` is reached; there is no sandbox branch).
boto3 and botocore are imported only when a client or an error is needed.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from typing import Any

from ..base import BackendError, Link
from .settings import Settings

AWS_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TAG_VALUE_BAD = re.compile(r"[^\w\s.:/=+\-@]")

TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
}
CREDENTIAL_CODES = {
    "UnrecognizedClientException",
    "UnrecognizedClient",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
}


class AwsClients:
    """One boto3 session per connection (assuming its role if it names one), one client per service."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._session = None
        self._clients: dict[str, Any] = {}

    def __repr__(self) -> str:  # no secrets
        return f"AwsClients({self.settings!r})"

    def botocore_config(self):
        from botocore.config import Config

        return Config(
            retries={"mode": "standard", "total_max_attempts": int(self.settings.get("max_attempts", 3))},
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra="atrium-portal",
        )

    def session(self):
        if self._session is not None:
            return self._session
        import boto3

        settings = self.settings
        base = boto3.session.Session(
            aws_access_key_id=settings.secret("access_key_id"),
            aws_secret_access_key=settings.secret("secret_access_key"),
            aws_session_token=settings.secret("session_token"),
            region_name=settings.region,
        )
        role_arn = settings.get("role_arn")
        if role_arn:
            with aws("Assume the connection's IAM role"):
                sts = base.client("sts", endpoint_url=settings.endpoint_url, config=self.botocore_config())
                external_id = settings.get("external_id")
                extra = {"ExternalId": external_id} if external_id else {}
                credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="atrium-portal", **extra)["Credentials"]
            base = boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=settings.region,
            )
        self._session = base
        return base

    def client(self, service: str):
        if service not in self._clients:
            region = "us-east-1" if service == "ce" else self.settings.region  # Cost Explorer lives in us-east-1
            self._clients[service] = self.session().client(
                service, region_name=region, endpoint_url=self.settings.endpoint_url, config=self.botocore_config()
            )
        return self._clients[service]


# --- errors ----------------------------------------------------------------------------


def error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def map_client_error(exc, action: str) -> BackendError:
    """A botocore ClientError as a BackendError, transient or permanent."""
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in TRANSIENT_CODES or code.startswith("Throttl") or status >= 500:
        return BackendError(f"{action}: AWS is busy ({code or status}); the portal will retry.", permanent=False)
    if code.startswith("AccessDenied") or code == "403":  # S3 answers a HEAD with the bare status
        return BackendError(
            f"{action}: access denied by AWS ({code}): {message} "
            "Check the IAM permissions of the connection's credentials or role.",
            permanent=True,
        )
    if code in CREDENTIAL_CODES:
        return BackendError(
            f"{action}: AWS rejected the connection's credentials ({code}). Check the access key, secret and role.",
            permanent=True,
        )
    if code in ("ValidationException", "ValidationError"):
        return BackendError(f"{action}: AWS rejected the request: {message}", permanent=True)
    if code.startswith("ResourceNotFound") or code in ("NoSuchEntity", "NoSuchBucket", "404"):
        return BackendError(f"{action}: not found on AWS: {message}", permanent=True)
    return BackendError(f"{action} failed ({code}): {message}", permanent=True)


@contextmanager
def aws(action: str):
    """Run AWS calls; any failure leaves as a BackendError."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    try:
        yield
    except BackendError:
        raise
    except ClientError as exc:
        raise map_client_error(exc, action) from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError) as exc:
        raise BackendError(f"{action}: AWS is unreachable ({type(exc).__name__}); the portal will retry.") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise BackendError(f"{action}: the connection has no usable AWS credentials.", permanent=True) from None
    except ParamValidationError as exc:
        raise BackendError(f"{action}: invalid request: {exc}", permanent=True) from None
    except BotoCoreError as exc:
        raise BackendError(f"{action}: {type(exc).__name__}: {exc}", permanent=True) from None


# --- names, tags, links -------------------------------------------------------------------


def aws_name(value: str, what: str) -> str:
    if not AWS_NAME.match(value or ""):
        raise BackendError(
            f"Invalid {what} {value!r}: letters, digits and single hyphens, at most 63 characters.", permanent=True
        )
    return value


def group_name(model_name: str) -> str:
    """The model package group of a portal model name ('_' and '.' become '-').
    A group name is its own group name, so the registry lists models by it."""
    name = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]", "-", model_name)).strip("-")[:63].rstrip("-")
    return aws_name(name, "model name")


def aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """Cost-allocation tags (team, project, model, run) in AWS form. Empty values
    are left out: CloudFormation (unlike SageMaker) refuses a tag without a value."""
    return [
        {"Key": str(key)[:128], "Value": TAG_VALUE_BAD.sub("_", str(value))[:256]}
        for key, value in sorted(tags.items())
        if str(key) and str(value)
    ]


def tag_dict(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def json_object(text: str) -> dict:
    """A JSON object kept in a hyperparameter, or {} (registry mirror)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def console_link(region: str, label: str, fragment: str, *, service: str = "sagemaker") -> Link:
    """A page of the AWS console (given for a stand-in too: it is only a link)."""
    return Link(label, f"https://{region}.console.aws.amazon.com/{service}/home?region={region}#/{fragment}")
