"""Real-time endpoints with blue/green rollouts.

A deploy creates a SageMaker Model per variant (the model package itself, or
for ``ml.inf2.*`` its Neo compilation, ``neo.py``), an endpoint config named
by a hash of the variants (so a resubmit reuses it), then CreateEndpoint, or
UpdateEndpoint with a blue/green DeploymentConfig (ALL_AT_ONCE, CANARY or
LINEAR by ``EndpointSpec.rollout``, auto-rollback alarms from the connection).
``ml.inf1.*`` rollouts and rollbacks are the portal's own (``traffic.py``).
"""

from __future__ import annotations

import json
from typing import Any

from ..base import BackendError, EndpointSpec, EndpointStatus, EndpointVariant, Upstream
from . import neo, registry, traffic
from .client import AwsClients, aws, aws_name, aws_tags, error_code, group_name, short_hash
from .instances import validate_instance_type
from .settings import Settings

ENDPOINT_STATES = {
    "Creating": "creating",
    "Updating": "updating",
    "SystemUpdating": "updating",
    "RollingBack": "updating",
    "InService": "in_service",
    "Deleting": "deleting",
    "Failed": "failed",
    "UpdateRollbackFailed": "failed",
    "OutOfService": "failed",
}
ROUTING = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}


def deploy_endpoint(sm, settings: Settings, spec: EndpointSpec) -> str:
    name = aws_name(spec.name, "endpoint name")
    if not spec.variants:
        raise BackendError("A deploy needs at least one variant.", permanent=True)
    for variant in spec.variants:
        aws_name(variant.name, "variant name")
        validate_instance_type(variant.instance_type, use="endpoint")
    if spec.rollout not in ROUTING:
        raise BackendError(f"Unknown rollout {spec.rollout!r}; one of {', '.join(ROUTING)}.", permanent=True)
    with aws(f"Deploy endpoint {name}"):
        models = {v.name: model_for(sm, settings, v, spec.tags) for v in spec.variants}
        current = describe_endpoint(sm, name)
        if current is None:
            config = endpoint_config(sm, name, [variant_request(v, models[v.name]) for v in spec.variants], spec)
            sm.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=aws_tags(spec.tags))
            return name
        if current["EndpointStatus"] != "InService":
            raise BackendError(f"Endpoint {name} is {current['EndpointStatus']}; the deploy waits for it.")
        if any(v.instance_type.startswith("ml.inf1.") for v in spec.variants):
            return _inf1_rollout(sm, current, spec, models)
        config = endpoint_config(sm, name, [variant_request(v, models[v.name]) for v in spec.variants], spec)
        if config == current["EndpointConfigName"]:
            return name  # already deployed (a redelivered submit)
        rollout = deployment_config(settings, spec)
        sm.update_endpoint(EndpointName=name, EndpointConfigName=config, DeploymentConfig=rollout)
        traffic.push_undo(sm, current["EndpointArn"], f"config:{current['EndpointConfigName']}", {})
    return name


def describe_endpoint(sm, name: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return sm.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if error_code(exc) == "ValidationException" and "Could not find" in str(exc):
            return None
        raise


def _existing(sm, name: str) -> dict:
    endpoint = describe_endpoint(sm, name)
    if endpoint is None:
        raise BackendError(f"Endpoint {name} does not exist in SageMaker.", permanent=True)
    return endpoint


def variant_request(variant: EndpointVariant, model_name: str, weight: float | None = None) -> dict:
    return {
        "VariantName": variant.name,
        "ModelName": model_name,
        "InstanceType": variant.instance_type,
        "InitialInstanceCount": variant.instance_count,
        "InitialVariantWeight": float(variant.weight if weight is None else weight),
    }


def endpoint_config(sm, endpoint: str, variants: list[dict], spec: EndpointSpec) -> str:
    """An endpoint config named by what it holds, so a resubmit reuses it."""
    from botocore.exceptions import ClientError

    name = f"{endpoint[:54].rstrip('-')}-{short_hash(variants)}"
    try:
        sm.describe_endpoint_config(EndpointConfigName=name)
    except ClientError as exc:
        if error_code(exc) != "ValidationException":
            raise
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants, Tags=aws_tags(spec.tags))
    return name


def deployment_config(settings: Settings, spec: EndpointSpec) -> dict:
    routing: dict[str, Any] = {
        "Type": ROUTING[spec.rollout],
        "WaitIntervalInSeconds": int(settings.get("bake_seconds", 300)),
    }
    size = {"Type": "CAPACITY_PERCENT", "Value": int(spec.canary_percent)}
    if spec.rollout == "canary":
        routing["CanarySize"] = size
    elif spec.rollout == "linear":
        routing["LinearStepSize"] = size
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": int(settings.get("termination_wait_seconds", 0)),
            "MaximumExecutionTimeoutInSeconds": int(settings.get("max_rollout_seconds", 3600)),
        }
    }
    alarms = settings.list("rollback_alarms")
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def model_for(sm, settings: Settings, variant: EndpointVariant, tags: dict[str, str]) -> str:
    """The SageMaker Model a variant (or a batch transform) serves: the model
    package itself, or for ``ml.inf2.*`` the output of a Neo compilation job."""
    from botocore.exceptions import ClientError

    package_arn = registry.package_arn(sm, variant.model)
    base = f"{group_name(variant.model.name)[:50]}-v{variant.model.version}"
    if variant.instance_type.startswith("ml.inf2."):
        model_name, container = neo.compiled(sm, settings, variant, package_arn, f"{base}-inf2", tags)
    else:
        model_name, container = base, {"ModelPackageName": package_arn}
    try:
        sm.create_model(
            ModelName=model_name, ExecutionRoleArn=settings.role(), PrimaryContainer=container, Tags=aws_tags(tags)
        )
    except ClientError as exc:
        if "already exist" not in str(exc):
            raise
    return model_name


def _inf1_rollout(sm, current: dict, spec: EndpointSpec, models: dict[str, str]) -> str:
    """No guardrails on inf1: add the new variant at weight 0; polls then shift traffic step by step."""
    if len(spec.variants) != 1:
        raise BackendError("An inf1 rollout brings one new variant at a time.", permanent=True)
    new = spec.variants[0]
    old = sm.describe_endpoint_config(EndpointConfigName=current["EndpointConfigName"])["ProductionVariants"]
    if new.name in {v["VariantName"] for v in old}:
        if traffic.tags(sm, current["EndpointArn"]).get(traffic.SHIFT_TAG, "").startswith(f"{new.name}:"):
            return spec.name  # this rollout was already submitted and is shifting
        raise BackendError(
            f"Variant {new.name!r} already serves endpoint {spec.name}; an inf1 rollout needs a new variant name "
            "(the old one keeps serving while the portal shifts traffic).",
            permanent=True,
        )
    keep = ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount", "InitialVariantWeight")
    weights = traffic.percentages(current.get("ProductionVariants", []))
    variants = [
        {**{k: v[k] for k in keep if k in v}, "InitialVariantWeight": float(weights.get(v["VariantName"], 0))}
        for v in old
    ] + [variant_request(new, models[new.name], 0)]
    config = endpoint_config(sm, spec.name, variants, spec)
    sm.update_endpoint(EndpointName=spec.name, EndpointConfigName=config)
    traffic.push_undo(
        sm, current["EndpointArn"], f"config:{current['EndpointConfigName']}", traffic.shift_plan(spec, new.name)
    )
    return spec.name


def get_endpoint(sm, name: str) -> EndpointStatus:
    with aws(f"Read endpoint {name}"):
        endpoint = _existing(sm, name)
        state = ENDPOINT_STATES.get(endpoint["EndpointStatus"], "updating")
        weights = traffic.percentages(endpoint.get("ProductionVariants", []))
        if state == "in_service":
            shift = traffic.tags(sm, endpoint["EndpointArn"]).get(traffic.SHIFT_TAG)
            if shift:
                weights = traffic.shift_step(sm, endpoint, shift)
                state = "updating"
    return EndpointStatus(name=name, state=state, weights=weights, message=endpoint.get("FailureReason", ""))


def update_traffic(sm, name: str, weights: dict[str, int]) -> None:
    with aws(f"Change the traffic of endpoint {name}"):
        endpoint = _existing(sm, name)
        current = traffic.percentages(endpoint.get("ProductionVariants", []))
        unknown = set(weights) - set(current)
        if unknown:
            raise BackendError(
                f"Endpoint {name} has no variant {', '.join(sorted(unknown))} (it has {', '.join(current)}).",
                permanent=True,
            )
        traffic.set_weights(sm, name, weights)
        traffic.push_undo(sm, endpoint["EndpointArn"], traffic.weights_undo(current), {})


def rollback_endpoint(sm, name: str) -> None:
    """Undo the portal's last change: a weights change or an endpoint config change."""
    with aws(f"Roll back endpoint {name}"):
        endpoint = _existing(sm, name)
        tags = traffic.tags(sm, endpoint["EndpointArn"])
        kind, value = traffic.last_change(tags)
        if kind == "weights":
            traffic.set_weights(sm, name, traffic.parse_weights(value))
        elif kind == "config":
            if endpoint["EndpointStatus"] != "InService":
                raise BackendError(f"Endpoint {name} is {endpoint['EndpointStatus']}; roll back when it settles.")
            sm.update_endpoint(EndpointName=name, EndpointConfigName=value)
        else:
            raise BackendError(
                f"Nothing to roll back on endpoint {name}: the portal has not changed it since it was created.",
                permanent=True,
            )
        traffic.pop_undo(sm, endpoint["EndpointArn"], tags)


def delete_endpoint(sm, name: str) -> None:
    from botocore.exceptions import ClientError

    with aws(f"Delete endpoint {name}"):
        try:
            sm.delete_endpoint(EndpointName=name)
        except ClientError as exc:
            if not (error_code(exc) == "ValidationException" and "Could not find" in str(exc)):
                raise


def invoke(runtime, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send ``payload`` as JSON; a JSON object answer as is, anything else as ``{"result": ...}``,
    with the variant that answered as ``_variant``."""
    with aws(f"Invoke endpoint {name}"):
        response = runtime.invoke_endpoint(
            EndpointName=name, ContentType="application/json", Accept="application/json", Body=json.dumps(payload)
        )
        body = response["Body"].read().decode("utf-8", errors="replace")
    try:
        result = json.loads(body)
    except ValueError:
        result = body
    result = result if isinstance(result, dict) else {"result": result}
    variant = response.get("InvokedProductionVariant")
    return {**result, "_variant": variant} if variant else result


TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"  # InvokeEndpoint's TargetVariant
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"  # InvokeEndpoint's InferenceId, kept by Data Capture


def invocation_target(clients: AwsClients, name: str, variant: str | None = None) -> Upstream:
    """InvokeEndpoint over plain HTTP: the runtime URL, ``TargetVariant`` as its header, and
    a Signature V4 of each request's body made with the connection's credentials."""
    with aws(f"Reach endpoint {name}"):
        runtime = clients.client("sagemaker-runtime")
        credentials = clients.session().get_credentials()
    if credentials is None:
        raise BackendError("The connection has no AWS credentials to invoke endpoints with.", permanent=True)
    url = f"{runtime.meta.endpoint_url.rstrip('/')}/endpoints/{aws_name(name, 'endpoint name')}/invocations"
    region = clients.settings.region
    headers = {"Accept": "application/json"}
    if variant:
        headers[TARGET_VARIANT_HEADER] = variant

    def sign(body: bytes, request_headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=url, data=body, headers=dict(request_headers))
        SigV4Auth(credentials.get_frozen_credentials(), "sagemaker", region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower().startswith(("authorization", "x-amz-"))}

    return Upstream(url=url, headers=headers, sign=sign, ttl=300.0, request_id_header=INFERENCE_ID_HEADER)
