"""The AWS SageMaker backend: a thin facade over one module per concern.

How the portal's ideas map onto SageMaker:

* A connection is an AWS account and region, reached with access keys or a
  role to assume (``client.py``); its settings are declared once in
  ``settings.py``. An ``endpoint_url`` sends every call elsewhere (the
  stand-in in ``apps/backends/sandbox/aws/``); there is no sandbox branch.
* A training run is a training job named after the run's key, running
  Atrium's ``container_job.py`` in the scikit-learn image (``training.py``).
  A search is a hyperparameter tuning job whose trials are such trainings
  (``tuning.py``); batch inference is a batch transform job (``batch.py``).
* A portal model is a model package group, a model version a model package
  in it, registered by the poll that sees a training or search complete; the
  poll reports it as ``JobStatus.model`` under the group's name, the name the
  registry lists it by (``registry.py``). Aliases are package tags.
* An endpoint is a SageMaker endpoint whose variants serve model packages,
  updated blue/green by SageMaker's deployment guardrails (``endpoints.py``,
  ``guardrails.py``), rolled back on CloudWatch alarms the deployment creates
  (``alarms.py``), capturing requests and responses to S3 (Data Capture),
  which is read back in chunks (``capture.py``);
  ``ml.inf2`` variants serve a Neo compilation (``neo.py``); ``ml.inf1`` has
  no guardrails, so its canaries are the portal's own rollouts (each step a
  plain update or a weights change); a rollback undoes the portal's last
  change (``traffic.py``). The endpoint mirror reads every endpoint of the
  account (``listing.py``).
* A resource (a team's workspace) is a CloudFormation stack (``stacks.py``);
  costs come from Cost Explorer by cost-allocation tags (``costs.py``);
  estimates from a price table (``pricing.py``); instance types and enums
  from botocore's service model (``instances.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from ..base import (
    BackendError,
    BatchSpec,
    CapturedEvent,
    CostRecord,
    EndpointDetails,
    EndpointSpec,
    EndpointStatus,
    EndpointSummary,
    Guardrails,
    HourlyPrice,
    JobStatus,
    ModelRef,
    ModelVersionDetails,
    ModelVersionInfo,
    RegisteredModelInfo,
    ResourceSpec,
    TrainingSpec,
    TuningSpec,
    Upstream,
)
from . import (
    alarms,
    batch,
    capture,
    costs,
    endpoints,
    guardrails,
    instances,
    listing,
    pricing,
    registry,
    stacks,
    training,
    tuning,
)
from .client import (  # noqa: F401 - importable from here as before
    AwsClients,
    aws,
    aws_name,
    aws_tags,
    group_name,
    map_client_error,
)
from .instances import (  # noqa: F401 - importable from here as before
    endpoint_instance_types,
    enum,
    is_gpu,
    training_instance_types,
)
from .pricing import PRICE_TABLE, load_prices  # noqa: F401 - importable from here as before
from .registry import serving_environment  # noqa: F401 - importable from here as before
from .settings import CONNECTION_SETTINGS, Settings
from .stacks import workspace_template  # noqa: F401 - importable from here as before
from .training import PROGRAM, source_bundle  # noqa: F401 - importable from here as before


class SageMakerBackend:
    kind = "sagemaker"
    connection_settings = CONNECTION_SETTINGS
    DEFAULT_INSTANCE_TYPES = instances.DEFAULT_INSTANCE_TYPES
    deploy_targets = tuple(DEFAULT_INSTANCE_TYPES)
    data_prefixes = ("s3://",)

    def __init__(self, config: dict[str, Any], secrets: dict[str, str]):
        self.config = dict(config)
        self.settings = Settings(config, secrets)  # secrets only ever go to boto3; never logged or returned
        self.region = self.settings.region
        self.endpoint_url = self.settings.endpoint_url
        self._aws = AwsClients(self.settings)
        self._source_uri: str | None = None

    @classmethod
    def from_connection(cls, config: dict, secrets: dict) -> SageMakerBackend:
        return cls(config or {}, secrets or {})

    def __repr__(self) -> str:  # no secrets
        return f"SageMakerBackend(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    def client(self, service: str):
        return self._aws.client(service)

    @property
    def sm(self):
        return self.client("sagemaker")

    # --- checks and catalog -------------------------------------------------------------

    def check(self) -> list[dict]:
        results = []
        for name, action, call in (
            ("credentials", "Identify the caller", lambda: self.client("sts").get_caller_identity()),
            ("sagemaker", "List SageMaker training jobs", lambda: self.sm.list_training_jobs(MaxResults=1)),
            ("endpoints", "List SageMaker endpoints", lambda: self.sm.list_endpoints(MaxResults=1)),
            ("cloudwatch", "List CloudWatch alarms", lambda: self.client("cloudwatch").describe_alarms(MaxRecords=1)),
            ("cloudformation", "List CloudFormation stacks", lambda: self.client("cloudformation").list_stacks()),
        ):
            try:
                with aws(action):
                    call()
                results.append({"check": name, "ok": True, "message": "OK"})
            except BackendError as exc:
                results.append({"check": name, "ok": False, "message": exc.message})
        return results

    def validate_instance_type(self, instance_type: str, *, use: str) -> str:
        return instances.validate_instance_type(instance_type, use=use)

    def price_per_hour(self, instance_type: str, *, use: str = "training") -> float | None:
        return pricing.price_per_hour(instance_type, use=use, table_path=self.settings.get("price_table_path"))

    def hosting_price(self, instance_type: str) -> HourlyPrice | None:
        table = self.settings.get("price_table_path")
        amount = pricing.price_per_hour(instance_type, use="hosting", table_path=table)
        if amount is None:
            return None
        source = f"the price table {table}" if table else "the backend's prices.json (us-east-1 list prices)"
        return HourlyPrice(amount=amount, currency=pricing.currency(table), source=source)

    # --- training, search, batch inference ------------------------------------------------

    def _source_dir(self) -> str:
        """Where the program's source is in S3, put there once per backend (per version of the code)."""
        if not self._source_uri:
            self._source_uri = training.upload_source(self.client("s3"), self.settings.output_uri())
        return self._source_uri

    def training_request(self, spec: TrainingSpec) -> dict:
        """CreateTrainingJob's arguments for ``spec`` (but its name and tags)."""
        return training.training_request(self.settings, spec, self._source_dir)

    def submit_training(self, spec: TrainingSpec) -> str:
        name = aws_name(spec.key, "job key")
        request = self.training_request(spec)
        return training.submit_training(self.sm, name, request, spec.tags)

    def poll_training(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        return training.poll_training(self.sm, self.region, external_id, log_cursor=log_cursor)

    def cancel_training(self, external_id: str) -> None:
        training.cancel_training(self.sm, external_id)

    def submit_tuning(self, spec: TuningSpec) -> str:
        request = self.training_request(tuning.trial_spec(spec))
        return tuning.submit_tuning(self.sm, spec, request)

    def poll_tuning(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        return tuning.poll_tuning(self.sm, self.region, external_id, log_cursor=log_cursor)

    def cancel_tuning(self, external_id: str) -> None:
        tuning.cancel_tuning(self.sm, external_id)

    def submit_batch(self, spec: BatchSpec) -> str:
        return batch.submit_batch(self.sm, self.client("s3"), self.settings, spec)

    def poll_batch(self, external_id: str, *, log_cursor: int = 0) -> JobStatus:
        return batch.poll_batch(self.sm, self.region, external_id, log_cursor=log_cursor)

    def cancel_batch(self, external_id: str) -> None:
        batch.cancel_batch(self.sm, external_id)

    # --- registry -------------------------------------------------------------------------

    def list_model_versions(self, model_name: str) -> list[ModelVersionInfo]:
        return registry.list_model_versions(self.sm, model_name)

    def set_alias(self, model: ModelRef, alias: str) -> None:
        registry.set_alias(self.sm, model, alias)

    def set_approval_status(self, model: ModelRef, status: str) -> None:
        registry.set_approval_status(self.sm, model, status)

    def list_registered_models(self) -> list[RegisteredModelInfo]:
        return registry.list_registered_models(self.sm)

    def model_version_details(self, model: ModelRef) -> ModelVersionDetails:
        return registry.model_version_details(self.sm, model)

    def delete_alias(self, model_name: str, alias: str) -> None:
        registry.delete_alias(self.sm, model_name, alias)

    def set_version_tag(self, model: ModelRef, key: str, value: str) -> None:
        registry.set_version_tag(self.sm, model, key, value)

    def delete_version_tag(self, model: ModelRef, key: str) -> None:
        registry.delete_version_tag(self.sm, model, key)

    # --- endpoints --------------------------------------------------------------------------

    def instance_type_for(self, target: str) -> str:
        return instances.instance_type_for(target)

    def deploy_endpoint(self, spec: EndpointSpec) -> str:
        cloudwatch = self.client("cloudwatch") if spec.guardrails is not None else None
        return endpoints.deploy_endpoint(self.sm, self.settings, spec, cloudwatch=cloudwatch)

    def get_endpoint(self, name: str) -> EndpointStatus:
        status = endpoints.get_endpoint(self.sm, name)
        if status.rolled_back:  # say which alarm, when one is still in ALARM
            with aws(f"Read the CloudWatch alarms of endpoint {name}"):
                names = [alarms.alarm_name(name, kind) for kind in alarms.KINDS] + self.settings.list("rollback_alarms")
                tripped = alarms.tripped(self.client("cloudwatch"), names)
            if tripped:
                status = replace(status, message=f"{status.message} In ALARM: {'; '.join(tripped)}.")
        return status

    def update_traffic(self, name: str, weights: dict[str, int]) -> None:
        endpoints.update_traffic(self.sm, name, weights)

    def rollback_endpoint(self, name: str) -> None:
        endpoints.rollback_endpoint(self.sm, name)

    def delete_endpoint(self, name: str) -> None:
        endpoints.delete_endpoint(self.sm, self.client("cloudwatch"), name)

    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return endpoints.invoke(self.client("sagemaker-runtime"), name, payload)

    def invocation_target(self, name: str, variant: str | None = None) -> Upstream:
        return endpoints.invocation_target(self._aws, name, variant)

    def read_capture(
        self,
        endpoint: str,
        *,
        since: datetime,
        until: datetime,
        modified_after: datetime | None = None,
        chunk_rows: int = 5000,
    ) -> Iterator[list[CapturedEvent]]:
        return capture.read_capture(
            self._aws, endpoint, since=since, until=until, modified_after=modified_after, chunk_rows=chunk_rows
        )

    def list_endpoints(self) -> list[EndpointSummary]:
        return listing.list_endpoints(self.sm)

    def endpoint_details(self, name: str) -> EndpointDetails:
        return listing.endpoint_details(self.sm, name)

    # --- deployment guardrails (GuardedRollouts) ----------------------------------------------

    guardrails_label = guardrails.LABEL

    def guardrails_refusal(
        self,
        *,
        hardware: list[str],
        instance_count: int,
        rollout: str,
        canary_percent: int,
        linear_step_percent: int,
        bake_seconds: int,
        termination_wait_seconds: int,
    ) -> str:
        return guardrails.refusal(
            hardware=hardware,
            instance_count=instance_count,
            rollout=rollout,
            canary_percent=canary_percent,
            linear_step_percent=linear_step_percent,
            bake_seconds=bake_seconds,
            termination_wait_seconds=termination_wait_seconds,
        )

    def guardrails_alarms(self, endpoint: str, guardrails: Guardrails) -> list[str]:
        own = alarms.names(endpoint, guardrails)
        return own + [name for name in self.settings.list("rollback_alarms") if name not in own]

    # --- resources (CloudFormation) and costs (Cost Explorer) -------------------------------

    def provision(self, spec: ResourceSpec) -> str:
        return stacks.provision(self.client("cloudformation"), spec)

    def poll_provision(self, external_id: str) -> JobStatus:
        return stacks.poll_provision(self.client("cloudformation"), self.region, external_id)

    def teardown(self, external_id: str) -> None:
        stacks.teardown(self.client("cloudformation"), external_id)

    def stack_status(self, external_id: str) -> str:
        """The stack's status; ``DELETE_COMPLETE`` once a teardown is over."""
        return stacks.stack_status(self.client("cloudformation"), external_id)

    def get_costs(self, *, start: date, end: date, tags: dict[str, str] | None = None) -> list[CostRecord]:
        """Daily costs from ``start`` to ``end`` (both included), by the connection's ``cost_group_by`` tags."""
        return costs.get_costs(
            self.client("ce"), start=start, end=end, tags=tags, group_by=self.settings.list("cost_group_by")
        )
