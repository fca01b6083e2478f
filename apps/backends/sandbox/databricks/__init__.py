"""A STAND-IN for the Databricks REST API, for development and tests; not
Databricks. It speaks the wire protocol of the endpoints Atrium's Databricks
backend calls (through databricks-sdk), keeps its state in memory (optionally
in a JSON file, so a restarted stand-in still knows its runs and endpoints),
and has no cluster.

One module per API surface, all answered by one server through one router:

* ``server``: ``DatabricksStandIn`` (HTTP server, authentication, faults,
  ``/.well-known/databricks-config``, SCIM ``Me``);
* ``router``: ``@route`` and the router, Databricks-shaped errors;
* ``state``: the state and its JSON file;
* ``jobs``: one-time runs (submit / get / get-output / cancel), running
  uploaded programs with ``programs_dir``;
* ``serving``: serving endpoints and invocations, logged to inference tables
  (``inference_tables``) when an endpoint's config asks;
* ``sql``: the SQL statement execution API, reading those tables;
* ``unity_catalog``: registered models, versions, aliases, schemas;
* ``mlflow``: MLflow's Unity Catalog model versions and experiments;
* ``workspace``: workspace folders and files;
* ``billing``: billable usage.

Run it: ``python -m apps.backends.sandbox.databricks --port 8765 --token T --state var/databricks.json``
(see ``__main__``).
"""

from __future__ import annotations

from .jobs import FAIL_MARKER
from .router import ApiError, already_exists, invalid, not_found
from .server import DatabricksStandIn
from .sql import WAREHOUSE_ID
from .state import DEFAULT_ACCOUNT_ID, USER, WORKSPACE_ID, WORKSPACE_ROOTS

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "FAIL_MARKER",
    "USER",
    "WAREHOUSE_ID",
    "WORKSPACE_ID",
    "WORKSPACE_ROOTS",
    "ApiError",
    "DatabricksStandIn",
    "already_exists",
    "invalid",
    "not_found",
]
