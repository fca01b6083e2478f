"""The SageMaker connection's settings, declared once.

``CONNECTION_SETTINGS`` lists every configuration value and secret the
backend reads; the connection form, its validation and the docs are built
from it. The backend reads them only through ``Settings``, which refuses a
name that is not declared here, so the declaration cannot fall behind the code.
"""

from __future__ import annotations

import re
from typing import Any

from ..base import BackendError, ConnectionSetting

CONNECTION_SETTINGS: tuple[ConnectionSetting, ...] = (
    # where and as whom
    ConnectionSetting("region", "AWS region", required=True, help="The region the jobs, models and endpoints live in."),
    ConnectionSetting(
        "endpoint_url",
        "Endpoint URL (optional: a stand-in or a VPC endpoint)",
        help="Sends every AWS call to this URL instead of AWS's public endpoints.",
        default="AWS's public endpoints",
    ),
    ConnectionSetting(
        "access_key_id",
        "Access key id",
        secret=True,
        help="With the secret access key; leave both empty to use the machine's own AWS credentials.",
    ),
    ConnectionSetting("secret_access_key", "Secret access key", secret=True),
    ConnectionSetting("session_token", "Session token (optional)", secret=True, help="For temporary credentials only."),
    ConnectionSetting(
        "role_arn",
        "Role to assume (optional)",
        help="An IAM role the portal assumes with the credentials above before any call.",
    ),
    ConnectionSetting(
        "external_id", "External id for the role (optional)", help="The ExternalId the role's trust policy asks for."
    ),
    ConnectionSetting(
        "max_attempts",
        "Attempts per AWS call",
        help="How many times botocore tries a throttled or failed call before the portal retries later.",
        default="3",
    ),
    # jobs
    ConnectionSetting(
        "execution_role_arn",
        "SageMaker execution role",
        required=True,
        help="The IAM role SageMaker runs training jobs, batch transforms and endpoints as.",
    ),
    ConnectionSetting(
        "output_s3_uri",
        "S3 URI for job outputs (s3://bucket/prefix)",
        required=True,
        help="Model artifacts, Atrium's training code, batch inputs and predictions go under this prefix.",
    ),
    ConnectionSetting(
        "default_instance_type",
        "Default instance type",
        help="For a training or batch job that names none.",
        default="ml.m5.large",
    ),
    ConnectionSetting(
        "training_image",
        "Training image (CPU)",
        help="The framework image CPU training jobs run Atrium's program in.",
        default="SageMaker's scikit-learn 1.2 image of the region",
    ),
    ConnectionSetting(
        "training_image_gpu",
        "Training image (GPU)",
        help="The framework image GPU (ml.p*, ml.g*) training jobs run in.",
        default="SageMaker's PyTorch 2.1 GPU image of the region",
    ),
    ConnectionSetting(
        "max_runtime_seconds",
        "Longest training (seconds)",
        help="SageMaker stops a training job that runs longer.",
        default="86400",
    ),
    # endpoints
    ConnectionSetting(
        "rollback_alarms",
        "More CloudWatch alarms that roll a deployment back (comma-separated)",
        help="A blue/green deployment rolls back when one of these fires, besides the alarms it creates itself.",
    ),
    ConnectionSetting(
        "bake_seconds",
        "Bake time between traffic steps (seconds)",
        help="How long a canary or linear step serves before the next one.",
        default="300",
    ),
    ConnectionSetting(
        "termination_wait_seconds",
        "Old fleet kept after a deployment (seconds)",
        help="How long the previous fleet stays up once all traffic has moved.",
        default="0",
    ),
    ConnectionSetting(
        "max_rollout_seconds",
        "Longest deployment (seconds)",
        help="A blue/green deployment that takes longer rolls back.",
        default="3600",
    ),
    ConnectionSetting(
        "capture_s3_uri",
        "S3 URI for Data Capture (s3://bucket/prefix)",
        help="Every endpoint Atrium creates captures its requests and responses (JSON Lines) under this prefix.",
        default="the job outputs' URI + /capture",
    ),
    ConnectionSetting(
        "neo_framework",
        "Neo framework for Inferentia2",
        help="The framework of the models Neo compiles for ml.inf2 endpoints.",
        default="PYTORCH",
    ),
    ConnectionSetting(
        "neo_framework_version", "Neo framework version (optional)", help="The framework version Neo compiles from."
    ),
    ConnectionSetting(
        "neo_data_input_config",
        "Neo input shape",
        help="The model's input names and shapes, as JSON, for the Neo compilation.",
        default='{"input0": [1, 20]}',
    ),
    ConnectionSetting(
        "inf2_image",
        "Inferentia2 serving image (optional)",
        help="Serves Neo-compiled models on ml.inf2 endpoints.",
        default="the image the Neo compilation names",
    ),
    # prices and costs
    ConnectionSetting(
        "price_table_path",
        "Price table (path to a JSON file)",
        help="Per instance-hour prices for estimates, in the shape of the backend's prices.json.",
        default="the backend's prices.json (us-east-1 list prices)",
    ),
    ConnectionSetting(
        "cost_group_by",
        "Cost grouping",
        help='Up to two cost-allocation tag keys, or "SERVICE", that Cost Explorer groups costs by.',
        default="team, project",
    ),
)

DECLARED = {setting.name: setting for setting in CONNECTION_SETTINGS}


class Settings:
    """A connection's configuration and secrets, read by declared name only.
    Secrets are handed to boto3 and nowhere else; ``repr`` never shows them."""

    def __init__(self, config: dict[str, Any], secrets: dict[str, str]):
        self._config = dict(config or {})
        self._secrets = dict(secrets or {})

    def __repr__(self) -> str:
        return f"Settings(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    @staticmethod
    def _declared(name: str, *, secret: bool) -> None:
        setting = DECLARED.get(name)
        if setting is None or setting.secret is not secret:
            raise KeyError(f"{name!r} is not a declared SageMaker connection {'secret' if secret else 'setting'}")

    def get(self, name: str, default: Any = None) -> Any:
        """A configuration value as the connection holds it, or ``default`` when it
        has none (an empty form field is none)."""
        self._declared(name, secret=False)
        value = self._config.get(name)
        return default if value is None or value == "" else value

    def list(self, name: str, default: tuple[str, ...] = ()) -> list[str]:
        """A list setting, given as a list or as comma-separated text."""
        value = self.get(name) or default
        if isinstance(value, str):
            value = value.split(",")
        return [str(item).strip() for item in value if str(item).strip()]

    def secret(self, name: str) -> str | None:
        self._declared(name, secret=True)
        return self._secrets.get(name) or None

    def require(self, name: str, what: str) -> str:
        """A value the call cannot do without: a permanent BackendError when it is missing."""
        value = self.get(name)
        if not value:
            raise BackendError(f"The AWS connection needs '{name}' ({what}).", permanent=True)
        return value

    @property
    def region(self) -> str:
        return self.get("region") or "us-east-1"

    @property
    def endpoint_url(self) -> str | None:
        return self.get("endpoint_url") or None

    def output_uri(self) -> str:
        return self.require("output_s3_uri", "an s3:// prefix for model artifacts").rstrip("/")

    def capture_uri(self) -> str:
        """Where SageMaker Data Capture writes (another reader turns the files into capture rows)."""
        return (self.get("capture_s3_uri") or f"{self.output_uri()}/capture").rstrip("/")

    def role(self) -> str:
        return self.require("execution_role_arn", "the IAM role SageMaker runs jobs and endpoints as")


REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def validate(config: dict, secrets: dict) -> dict[str, list[str]]:
    """What is wrong with a SageMaker connection's settings, beyond what the declaration says."""
    errors: dict[str, list[str]] = {}
    if config.get("region") and not REGION.match(str(config["region"])):
        errors["region"] = ["Not an AWS region name (e.g. eu-west-1)."]
    if bool(secrets.get("access_key_id")) != bool(secrets.get("secret_access_key")):
        errors["secret_access_key"] = ["Give both the access key id and the secret, or neither."]
    return errors
