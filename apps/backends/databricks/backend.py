"""The Databricks backend: a thin facade over databricks-sdk's ``WorkspaceClient``.

How the portal's ideas map onto Databricks (each in its own module):

* a training, search or batch job is a one-time job run (``jobs/runs/submit``)
  of ``cluster_job.py`` on a single-node job cluster, its idempotency token the
  spec's key (``jobs.py``); the program and the code it imports are uploaded to
  the workspace before the first run (``code_upload.py``);
* a finished training or search has a ``model`` (the Unity Catalog version it
  registered, by full name ``catalog.schema.model``), ``metrics`` and
  ``links`` (the job run page, the model version page);
* the registry is Unity Catalog: versions, aliases and tags, no approval
  status (``registry.py``);
* an endpoint is a Model Serving endpoint, its variants served entities and
  its weights ``traffic_config`` routes (``endpoints.py``); what its inference
  table logged is read with SQL on the connection's warehouse (``capture.py``),
  or profiled where it lives by a job run of the same program in its "profile"
  mode, for drift monitoring (``window_profiles.py``);
* a provisioned ``workspace`` is a Unity Catalog schema, a workspace folder and
  an MLflow experiment (``provisioning.py``);
* costs are the account's billable usage in DBUs, priced with ``dbu_price``
  (``costs.py``).

The connection's settings are declared once in ``settings.py``; the clients
are built from them only (``client.py``, which also maps SDK failures onto
``BackendError``), so tests and the sandbox point the backend at the stand-in
(apps/backends/sandbox/databricks/) by URL. The token is never logged or put
in a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..base import (
    BackendError,
    BatchSpec,
    CapturedEvent,
    CostRecord,
    EndpointDetails,
    EndpointSpec,
    EndpointStatus,
    EndpointSummary,
    JobStatus,
    ModelRef,
    ModelVersionDetails,
    ModelVersionInfo,
    RegisteredModelInfo,
    ResourceSpec,
    TrainingSpec,
    TuningSpec,
    Upstream,
    WindowSpec,
)
from ..jobs.cluster_job import OUTPUTS_MARKER
from . import (
    capture,
    code_upload,
    costs,
    endpoints,
    jobs,
    provisioning,
    registry,
    settings,
    system_billing,
    window_profiles,
)
from . import client as sdk
from .code_upload import CLUSTER_JOB, CLUSTER_LIBRARIES, code_bundle
from .endpoints import PAYLOAD_KEYS, workload_size, workload_types
from .jobs import IDEMPOTENCY_TOKEN_MAX, TASK_KEY, idempotency_token, job_outputs
from .provisioning import EXPERIMENT_LEAF, KEY_TAG, RESOURCE_KINDS, RESOURCE_NAME, RESOURCE_TAG
from .settings import CONNECTION_SETTINGS, WORKSPACE_ROOT

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

__all__ = [  # what other code imports from here (the stand-in: job_outputs, OUTPUTS_MARKER)
    "CLUSTER_JOB",
    "CLUSTER_LIBRARIES",
    "CONNECTION_SETTINGS",
    "EXPERIMENT_LEAF",
    "IDEMPOTENCY_TOKEN_MAX",
    "KEY_TAG",
    "OUTPUTS_MARKER",
    "PAYLOAD_KEYS",
    "RESOURCE_KINDS",
    "RESOURCE_NAME",
    "RESOURCE_TAG",
    "TASK_KEY",
    "WORKSPACE_ROOT",
    "DatabricksBackend",
    "code_bundle",
    "idempotency_token",
    "job_outputs",
    "workload_size",
    "workload_types",
]


class DatabricksBackend:
    kind = "databricks"
    connection_settings = CONNECTION_SETTINGS
    lists_version_tags = False  # Unity Catalog lists versions without their tags: the mirror reads each one's details
    has_approval_status = False  # Unity Catalog versions have none: the environment's alias says it
    DEFAULT_WORKLOADS = endpoints.DEFAULT_WORKLOADS
    deploy_targets = tuple(DEFAULT_WORKLOADS)
    data_prefixes = ("dbfs:/", "/Volumes/")

    def __init__(
        self,
        *,
        host: str,
        token: str,
        catalog: str = settings.DEFAULT_CATALOG,
        schema: str = settings.DEFAULT_SCHEMA,
        code_folder: str = WORKSPACE_ROOT,
        data_root: str | None = None,
        spark_version: str = settings.DEFAULT_SPARK_VERSION,
        node_type_id: str = settings.DEFAULT_NODE_TYPE,
        existing_cluster_id: str | None = None,
        account_id: str | None = None,
        account_host: str | None = None,
        dbu_price: float | None = None,
        currency: str = settings.DEFAULT_CURRENCY,
        expected_run_seconds: float = settings.DEFAULT_EXPECTED_RUN_SECONDS,
        warehouse_id: str | None = None,
        timeout_seconds: float = settings.DEFAULT_TIMEOUT_SECONDS,
        retry_timeout_seconds: float | None = None,
        http_timeout_seconds: float | None = None,
    ):
        if not host or not token:
            raise BackendError("A Databricks connection needs a host and a token.", permanent=True)
        self.host = host.rstrip("/")
        self._token = token
        self.catalog = catalog
        self.schema = schema
        self.code_folder = code_folder.rstrip("/")
        self.data_root = data_root or f"/Volumes/{catalog}/{schema}/atrium"
        self.spark_version = spark_version
        self.node_type_id = node_type_id
        self.existing_cluster_id = existing_cluster_id
        self.account_id = account_id
        self.account_host = account_host
        self.dbu_price = dbu_price
        self.currency = currency
        self.expected_run_seconds = expected_run_seconds
        self.warehouse_id = warehouse_id
        # a call, retries included, gives up after timeout_seconds (tests may set its two parts apart)
        self.timeout_seconds = timeout_seconds
        self._timeouts = {"retry_timeout_seconds": retry_timeout_seconds, "http_timeout_seconds": http_timeout_seconds}
        self._entry_point: str | None = None
        self._client: WorkspaceClient | None = None
        self._workspace_id = ""

    @classmethod
    def from_connection(cls, config: dict, secrets: dict) -> DatabricksBackend:
        return cls(**settings.from_connection(config, secrets))

    def __repr__(self) -> str:  # never the token
        return f"DatabricksBackend(host={self.host!r})"

    @property
    def client(self) -> WorkspaceClient:
        """The workspace's ``WorkspaceClient``, made on first use."""
        if self._client is None:
            self._client = sdk.workspace_client(lambda: self.sdk_config(self.host))
        return self._client

    def sdk_config(self, host: str, **extra) -> Config:
        """The SDK ``Config`` for ``host``: the token, and the connection's timeouts."""
        return sdk.sdk_config(host, self._token, timeout_seconds=self.timeout_seconds, **self._timeouts, **extra)

    def _full_name(self, name: str) -> str:
        return registry.full_name(name, self.catalog, self.schema)

    # --- checks ----------------------------------------------------------------

    def check(self) -> list[dict]:
        return sdk.check(lambda: self.client)

    # --- jobs: training, search, batch scoring ---------------------------------

    def submit_training(self, spec: TrainingSpec) -> str:
        return self._submit_job("train", spec, subject=spec.model_name)

    def submit_tuning(self, spec: TuningSpec) -> str:
        """A search runs as one job run of the same program, in its "tune" mode
        (trials on the job's cluster, the best registered in Unity Catalog)."""
        return self._submit_job("tune", spec, subject=spec.model_name)

    def submit_batch(self, spec: BatchSpec) -> str:
        """Scoring runs as a job run of the same program in its "batch" mode,
        reading the model from Unity Catalog and writing below ``data_root``."""
        return self._submit_job("batch", spec, subject=spec.model.name)

    def _submit_job(self, mode: str, spec, *, subject: str) -> str:
        payload = jobs.job_payload(
            spec, registered_model=self._full_name(subject), code_folder=self.code_folder, data_root=self.data_root
        )
        return jobs.submit(
            self.client,
            mode,
            spec,
            subject=subject,
            payload=payload,
            entry=self._entry(),
            existing_cluster_id=self.existing_cluster_id,
            spark_version=self.spark_version,
            node_type_id=self.node_type_id,
        )

    def _entry(self) -> str:
        """The workspace path of ``cluster_job.py``, uploading the bundle the first time this version runs."""
        if not self._entry_point:
            self._entry_point = code_upload.entry_point(self.client, self.code_folder)
        return self._entry_point

    def poll_training(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        return jobs.poll(
            self.client,
            external_id,
            log_cursor=log_cursor,
            host=self.host,
            catalog=self.catalog,
            schema=self.schema,
            expected_run_seconds=self.expected_run_seconds,
        )

    def cancel_training(self, external_id: str) -> None:
        jobs.cancel(self.client, external_id)

    # searches and batch scoring are job runs like training: the same polling and cancel
    poll_tuning = poll_batch = poll_training
    cancel_tuning = cancel_batch = cancel_training

    # --- provisioning ------------------------------------------------------------

    def provision(self, spec: ResourceSpec) -> str:
        """A ``workspace``: the schema ``<catalog>.<name>``, the folder
        ``/Workspace/Shared/atrium/<name>`` and an MLflow experiment in it."""
        return provisioning.provision(self.client, self.catalog, spec)

    def poll_provision(self, external_id: str) -> JobStatus:
        return provisioning.poll(self.client, self.catalog, external_id, host=self.host)

    def teardown(self, external_id: str) -> None:
        provisioning.teardown(self.client, self.catalog, external_id)

    # --- endpoints -----------------------------------------------------------------

    def instance_type_for(self, target: str) -> str:
        return endpoints.instance_type_for(target)

    def deploy_endpoint(self, spec: EndpointSpec) -> str:
        if not spec.variants:
            raise BackendError("An endpoint needs at least one variant.", permanent=True)
        entities = [endpoints.entity_input(v, self._full_name(v.model.name)) for v in spec.variants]
        return endpoints.deploy(self.client, spec, entities)

    def get_endpoint(self, name: str) -> EndpointStatus:
        return endpoints.get_endpoint(self.client, name)

    def update_traffic(self, name: str, weights: dict[str, int]) -> None:
        endpoints.update_traffic(self.client, name, weights)

    def rollback_endpoint(self, name: str) -> None:
        """All traffic back to the version deployed before the newest one."""
        endpoints.rollback(self.client, name)

    def delete_endpoint(self, name: str) -> None:
        endpoints.delete(self.client, name)

    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return endpoints.invoke(self.client, name, payload)

    def invocation_target(self, name: str, variant: str | None = None) -> Upstream:
        return endpoints.invocation_target(self.host, self._token, name, variant)

    def read_capture(
        self,
        endpoint: str,
        *,
        since: datetime,
        until: datetime,
        modified_after: datetime | None = None,  # a table has no file times: the window is read whole
        chunk_rows: int = 5000,
    ) -> Iterator[list[CapturedEvent]]:
        return capture.read_capture(
            self.client, self.warehouse_id, endpoint, since=since, until=until, chunk_rows=chunk_rows
        )

    def submit_window_profile(self, spec: WindowSpec) -> str | None:
        """A job run of ``cluster_job.py --mode profile`` over the endpoint's inference table
        (``window_profiles``); None when the endpoint logs to none."""
        payload = window_profiles.payload(self.client, spec, data_root=self.data_root, warehouse_id=self.warehouse_id)
        if payload is None:
            return None
        return jobs.submit(
            self.client,
            "profile",
            spec,
            subject=spec.endpoint,
            payload=payload,
            entry=self._entry(),
            existing_cluster_id=self.existing_cluster_id,
            spark_version=self.spark_version,
            node_type_id=self.node_type_id,
        )

    def poll_window_profile(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        return self.poll_training(external_id, log_cursor=log_cursor)

    def read_window_profile(self, status: JobStatus) -> bytes:
        return window_profiles.read(self.client, status, data_root=self.data_root)

    def list_endpoints(self) -> list[EndpointSummary]:
        return endpoints.list_endpoints(self.client)

    def endpoint_details(self, name: str) -> EndpointDetails:
        return endpoints.endpoint_details(self.client, name)

    # --- registry: Unity Catalog ----------------------------------------------------

    def list_model_versions(self, model_name: str) -> list[ModelVersionInfo]:
        return registry.list_model_versions(self.client, self._full_name(model_name))

    def set_alias(self, model: ModelRef, alias: str) -> None:
        registry.set_alias(self.client, self._full_name(model.name), model.version, alias)

    def set_approval_status(self, model: ModelRef, status: str) -> None:
        raise registry.no_approval_status()

    def register_model_version(self, model_name: str, source: str, *, run_id: str = "") -> ModelRef:
        """Register an MLflow model (``source`` is its URI) as a new Unity
        Catalog version. Not part of the Protocol: Databricks training jobs
        register their own models."""
        return registry.register_model_version(self.client, self._full_name(model_name), source, run_id=run_id)

    def list_registered_models(self) -> list[RegisteredModelInfo]:
        """The models of the connection's catalog and schema, by full name."""
        return registry.list_registered_models(self.client, self.catalog, self.schema)

    def model_version_details(self, model: ModelRef) -> ModelVersionDetails:
        return registry.model_version_details(self.client, self._full_name(model.name), model.version)

    def delete_alias(self, model_name: str, alias: str) -> None:
        registry.delete_alias(self.client, self._full_name(model_name), alias)

    def set_version_tag(self, model: ModelRef, key: str, value: str) -> None:
        registry.set_version_tag(self.client, self._full_name(model.name), model.version, key, value)

    def delete_version_tag(self, model: ModelRef, key: str) -> None:
        registry.delete_version_tag(self.client, self._full_name(model.name), model.version, key)

    # --- costs ---------------------------------------------------------------------

    def workspace_id(self) -> str:
        """The connection's workspace (the SDK reads it from the host's metadata, else from the
        ``X-Databricks-Org-Id`` header of the current-user call): the billing system tables are
        the whole account's."""
        if not self._workspace_id:
            with sdk.errors("read the workspace id"):
                self._workspace_id = str(self.client.get_workspace_id())
        return self._workspace_id

    def get_costs(self, *, start: date, end: date, tags: dict[str, str] | None = None) -> list[CostRecord]:
        """The billing system tables priced by list price, where the workspace has them and a SQL
        warehouse is set; else the account's billable-usage download priced with ``dbu_price``."""
        if self.warehouse_id:
            try:
                return system_billing.get_costs(
                    self.client, self.warehouse_id, workspace_id=self.workspace_id(), start=start, end=end, tags=tags
                )
            except system_billing.SystemTablesMissing:
                pass
        account_id = self.account_id or self.client.config.account_id
        if not account_id:
            raise BackendError(
                "Reading Databricks costs needs the account id (connection setting 'account_id').", permanent=True
            )
        with sdk.errors("read billable usage"):
            account = sdk.account_client(self.sdk_config(self.account_host or self.host, account_id=account_id))
        return costs.get_costs(
            account,
            start=start,
            end=end,
            tags=tags,
            dbu_price=self.dbu_price,
            currency=self.currency,
            workspace_id=self.workspace_id(),
        )
