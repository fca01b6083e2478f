"""Part of the AWS STAND-IN (moto, not AWS): SageMaker endpoints and endpoint
configs (CreateEndpointConfig, CreateEndpoint, DescribeEndpoint,
UpdateEndpoint), patched into moto's SageMaker backend.

What it adds to moto, and why:

* Endpoints pass ``Creating`` / ``Updating`` -> ``InService`` over a few
  DescribeEndpoint or ListEndpoints calls (standing for the minutes AWS
  takes; moto is InService at once), so the backend's waiting is exercised.
* CreateEndpoint with a name in use answers a ValidationException, as AWS does.
* UpdateEndpoint (missing in moto) accepts a DeploymentConfig (blue/green with
  ALL_AT_ONCE, CANARY or LINEAR traffic routing, auto-rollback alarms), checks
  it as AWS does and reports it back as ``LastDeploymentConfig``; the new
  config's variants take over when the update ends. Atrium's traffic shifting
  and rollback go through it.
* Auto-rollback, as deployment guardrails do it: an update whose
  ``AutoRollbackConfiguration`` names an alarm that is in ALARM in the
  stand-in's CloudWatch when the update would end is rolled back instead: the
  endpoint is InService on its old config and variants, with a FailureReason
  naming the alarms (the wording is the stand-in's; AWS's may differ). Trip one
  with CloudWatch's SetAlarmState while the endpoint is Updating.
* UpdateEndpointWeightsAndCapacities is an update too, as on AWS (moto applies
  it at once and stays InService): refused unless the endpoint is InService,
  ``Updating`` for a poll (no fleet to provision), ``DesiredWeight`` at once
  and ``CurrentWeight`` (what invocations are split by) when it ends; a
  variant's instance count is kept when the request gives none (moto sets it
  to None) and LastModifiedTime moves (the endpoint mirror reads an endpoint
  again when it has changed).
* A variant's weight is reported even when it is 0 (moto drops a falsy
  ``InitialVariantWeight``, and a 0% variant then looked unweighted).
* Endpoint configs check instance types against botocore's service model
  (moto's own list predates ml.inf2, ml.g5 and others).
"""

from __future__ import annotations

import weakref

ENDPOINT_POLLS = 2  # DescribeEndpoint answers Creating/Updating this many times
WEIGHTS_POLLS = 1  # ... and Updating this many after a weights change (no new fleet to provision)

_progress: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # moto's endpoint -> our bookkeeping


ROUTING_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")


def _check_deployment_config(config: dict | None) -> None:
    from moto.sagemaker.exceptions import ValidationError

    if not config:
        return
    policy = config.get("BlueGreenUpdatePolicy")
    if policy is not None:
        routing = policy.get("TrafficRoutingConfiguration") or {}
        kind = routing.get("Type")
        if kind not in ROUTING_TYPES:
            raise ValidationError(
                message=f"Value '{kind}' at 'trafficRoutingConfiguration.type' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {list(ROUTING_TYPES)}"
            )
        if kind == "CANARY" and not routing.get("CanarySize"):
            raise ValidationError(message="CanarySize is required for CANARY traffic routing.")
        if kind == "LINEAR" and not routing.get("LinearStepSize"):
            raise ValidationError(message="LinearStepSize is required for LINEAR traffic routing.")
        for size in (routing.get("CanarySize"), routing.get("LinearStepSize")):
            if size and size.get("Type") not in ("INSTANCE_COUNT", "CAPACITY_PERCENT"):
                raise ValidationError(message=f"Invalid capacity size type {size.get('Type')!r}.")
    for alarm in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []:
        if not alarm.get("AlarmName"):
            raise ValidationError(message="Each auto-rollback alarm needs an AlarmName.")


def _alarms_in_alarm(endpoint_arn: str, deployment_config: dict | None) -> list[str]:
    """The update's auto-rollback alarms that are in ALARM in the stand-in's CloudWatch."""
    from moto.cloudwatch.models import cloudwatch_backends

    names = [
        a.get("AlarmName")
        for a in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    ]
    if not names:
        return []
    _, _, _, region, account, _ = endpoint_arn.split(":", 5)
    alarms = cloudwatch_backends[account][region].alarms
    return [name for name in names if name in alarms and alarms[name].state_value == "ALARM"]


def patch() -> None:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    original_create = SageMakerModelBackend.create_endpoint

    def validate_instance_type(self, instance_type):
        import botocore.session

        model = botocore.session.get_session().get_service_model("sagemaker")
        valid = model.shape_for("ProductionVariantInstanceType").enum
        if instance_type not in valid:
            raise ValidationError(
                message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: "
                "Member must satisfy enum value set: ProductionVariantInstanceType"
            )

    FakeEndpointConfig.validate_instance_type = validate_instance_type
    original_describe = SageMakerModelBackend.describe_endpoint
    original_weights = SageMakerModelBackend.update_endpoint_weights_and_capacities
    original_variants = FakeEndpoint._process_production_variants

    def process_production_variants(self, production_variants):
        processed = original_variants(self, production_variants)
        for given, variant in zip(production_variants, processed, strict=True):
            weight = given.get("InitialVariantWeight")
            weight = 1.0 if weight is None else float(weight)  # AWS's default weight is 1.0
            variant.setdefault("CurrentWeight", weight)
            variant.setdefault("DesiredWeight", weight)
        return processed

    def create_endpoint(self, endpoint_name, endpoint_config_name, tags):
        if endpoint_name in self.endpoints:
            raise ValidationError(
                message=f'Cannot create already existing endpoint "{self.endpoints[endpoint_name].arn}".'
            )
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        endpoint.endpoint_status = "Creating"
        _progress[endpoint] = {"polls": 0, "pending": None}
        return endpoint

    def advance(endpoint: FakeEndpoint) -> None:
        state = _progress.get(endpoint)
        if state is None or endpoint.endpoint_status not in ("Creating", "Updating"):
            return
        state["polls"] += 1
        if state["polls"] <= state.get("limit", ENDPOINT_POLLS):
            return
        pending = state.pop("pending", None)
        if pending:
            config_name, variants, deployment_config = pending
            endpoint.last_deployment_config = deployment_config
            tripped = _alarms_in_alarm(endpoint.arn, deployment_config)
            if tripped:  # the old fleet keeps the traffic; the new one is released
                endpoint.failure_reason = (
                    f"Deployment rolled back: auto-rollback alarm(s) {', '.join(tripped)} in ALARM state."
                )
            else:
                endpoint.endpoint_config_name = config_name
                endpoint.production_variants = endpoint._process_production_variants(variants)
                endpoint.failure_reason = None
        for variant in endpoint.production_variants:  # a weights update takes effect as it ends
            if "DesiredWeight" in variant:
                variant["CurrentWeight"] = variant["DesiredWeight"]
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = utcnow()

    def describe_endpoint(self, endpoint_name):
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None:
            advance(endpoint)
        return original_describe(self, endpoint_name)

    original_list = SageMakerModelBackend.list_endpoints

    def list_endpoints(self, *args, **kwargs):
        for endpoint in list(self.endpoints.values()):
            advance(endpoint)
        return original_list(self, *args, **kwargs)

    def update_endpoint(self, endpoint_name, endpoint_config_name, deployment_config, retain_deployment_config):
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Could not find endpoint "{arn}".')
        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        config = self.endpoint_configs.get(endpoint_config_name)
        if config is None:
            arn = FakeEndpointConfig.arn_formatter(endpoint_config_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Could not find endpoint configuration "{arn}".')
        _check_deployment_config(deployment_config)
        if retain_deployment_config and not deployment_config:
            deployment_config = getattr(endpoint, "last_deployment_config", None)
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        _progress[endpoint] = {
            "polls": 0,
            "pending": (endpoint_config_name, config.production_variants, deployment_config),
        }
        return endpoint

    def update_endpoint_weights_and_capacities(self, endpoint_name, desired_weights_and_capacities):
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None and endpoint.endpoint_status != "InService":
            raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
        before = {v["VariantName"]: dict(v) for v in endpoint.production_variants} if endpoint else {}
        arn = original_weights(self, endpoint_name, desired_weights_and_capacities)  # checks the names
        for variant in endpoint.production_variants:
            old = before[variant["VariantName"]]
            variant["CurrentWeight"] = old.get("CurrentWeight", variant.get("DesiredWeight"))
            for key in ("CurrentInstanceCount", "DesiredInstanceCount"):
                if variant.get(key) is None and key in old:
                    variant[key] = old[key]
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        _progress[endpoint] = {"polls": 0, "pending": None, "limit": WEIGHTS_POLLS}
        return arn

    def update_endpoint_response(self):
        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            deployment_config=self._get_param("DeploymentConfig"),
            retain_deployment_config=self._get_param("RetainDeploymentConfig", False),
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerModelBackend.list_endpoints = list_endpoints
    SageMakerModelBackend.create_endpoint = create_endpoint
    SageMakerModelBackend.describe_endpoint = describe_endpoint
    SageMakerModelBackend.update_endpoint = update_endpoint
    SageMakerModelBackend.update_endpoint_weights_and_capacities = update_endpoint_weights_and_capacities
    FakeEndpoint._process_production_variants = process_production_variants
    SageMakerResponse.update_endpoint = update_endpoint_response
