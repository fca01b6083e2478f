"""A Databricks connection's settings, declared once.

``CONNECTION_SETTINGS`` is every setting the backend reads from a connection's
configuration and secrets (the connection form, its validation and the docs
are built from it); ``from_connection`` reads them through those names only
and turns them into the keyword arguments of ``DatabricksBackend``.
"""

from __future__ import annotations

from ..base import BackendError, ConnectionSetting

WORKSPACE_ROOT = "/Workspace/Shared/atrium"
DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "default"
DEFAULT_SPARK_VERSION = "15.4.x-cpu-ml-scala2.12"
DEFAULT_NODE_TYPE = "i3.xlarge"
DEFAULT_CURRENCY = "USD"
DEFAULT_EXPECTED_RUN_SECONDS = 600.0
# How long a call may take before the workspace counts as unreachable (a
# transient error the engine retries later), retries included.
DEFAULT_TIMEOUT_SECONDS = 10.0

CONNECTION_SETTINGS: tuple[ConnectionSetting, ...] = (
    ConnectionSetting(
        "host",
        "Workspace URL",
        required=True,
        help="The workspace's address, e.g. https://dbc-1234abcd-5678.cloud.databricks.com.",
    ),
    ConnectionSetting(
        "token",
        "Personal access token",
        required=True,
        secret=True,
        help="A personal access token (or a service principal's) for the workspace.",
    ),
    ConnectionSetting(
        "catalog",
        "Unity Catalog catalog",
        help="Where models are registered and workspaces get their schemas.",
        default=DEFAULT_CATALOG,
    ),
    ConnectionSetting(
        "schema",
        "Unity Catalog schema",
        help="The schema of registered models named without catalog and schema.",
        default=DEFAULT_SCHEMA,
    ),
    ConnectionSetting(
        "account_id",
        "Account id (for billable usage)",
        help="The Databricks account id; costs are read from the account's billable usage.",
        default="the workspace's account id, when its configuration knows it",
    ),
    ConnectionSetting(
        "account_host",
        "Account console URL (optional)",
        help="Where the account API answers, e.g. https://accounts.cloud.databricks.com.",
        default="the workspace URL",
    ),
    ConnectionSetting(
        "dbu_price",
        "Price of one DBU (optional)",
        help="Costs are DBUs times this price; without it they are reported in DBUs.",
        default="costs in DBUs",
    ),
    ConnectionSetting(
        "currency",
        "Currency of the DBU price",
        help="The currency of 'Price of one DBU'.",
        default=DEFAULT_CURRENCY,
    ),
    ConnectionSetting(
        "code_folder",
        "Workspace folder for Atrium's job code",
        help="Atrium uploads the program its job runs execute below this folder.",
        default=WORKSPACE_ROOT,
    ),
    ConnectionSetting(
        "data_root",
        "Folder of file datasets and predictions",
        help="File datasets are read, and batch predictions written, below this folder (a volume).",
        default="/Volumes/<catalog>/<schema>/atrium",
    ),
    ConnectionSetting(
        "node_type_id",
        "Node type for job clusters",
        help="The node type of the single-node cluster each job run gets (a job's own instance type wins).",
        default=DEFAULT_NODE_TYPE,
    ),
    ConnectionSetting(
        "existing_cluster_id",
        "Existing cluster id (optional)",
        help="Run jobs on this all-purpose cluster instead of a new job cluster each.",
    ),
    ConnectionSetting(
        "spark_version",
        "Databricks runtime for job clusters",
        help="An ML runtime (it brings scikit-learn, MLflow and pandas).",
        default=DEFAULT_SPARK_VERSION,
    ),
    ConnectionSetting(
        "expected_run_seconds",
        "Typical job run length in seconds",
        help="Databricks reports no progress; it is estimated from the time a run has spent against this.",
        default=str(int(DEFAULT_EXPECTED_RUN_SECONDS)),
    ),
    ConnectionSetting(
        "warehouse_id",
        "SQL warehouse id (for inference tables)",
        help="The SQL warehouse the portal reads endpoints' inference tables with, into its capture of their traffic.",
        default="inference tables are not read",
    ),
    ConnectionSetting(
        "timeout_seconds",
        "Timeout in seconds",
        help="How long a call to the workspace may take, retries included, before it counts as unreachable.",
        default=str(int(DEFAULT_TIMEOUT_SECONDS)),
    ),
)

SETTINGS = {setting.name: setting for setting in CONNECTION_SETTINGS}
NUMBERS = ("dbu_price", "expected_run_seconds", "timeout_seconds")
POSITIVE = ("expected_run_seconds", "timeout_seconds")


def from_connection(config: dict, secrets: dict) -> dict:
    """``DatabricksBackend``'s keyword arguments from a connection: the declared
    settings that have a value (secrets from ``secrets``, the rest from
    ``config``), numbers as floats. Nothing else is read."""
    options: dict = {}
    for setting in CONNECTION_SETTINGS:
        value = (secrets if setting.secret else config).get(setting.name)
        if value in (None, ""):
            continue
        if setting.name in NUMBERS:
            value = number(setting, value)
        options[setting.name] = value
    options.setdefault("host", "")
    options.setdefault("token", "")
    return options


def number(setting: ConnectionSetting, value) -> float:
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise BackendError(f"{setting.label} must be a number, not {value!r}.", permanent=True) from None
    if setting.name in POSITIVE and not parsed > 0:
        raise BackendError(f"{setting.label} must be more than 0, not {value!r}.", permanent=True)
    return parsed
