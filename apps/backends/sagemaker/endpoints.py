"""Real-time endpoints with blue/green rollouts.

A deploy creates a SageMaker Model per variant (the model package itself, or
for ``ml.inf2.*`` its Neo compilation, ``neo.py``), an endpoint config named
by a hash of the variants and the Data Capture settings (so a resubmit reuses
it), then CreateEndpoint, or UpdateEndpoint with a blue/green DeploymentConfig
(``guardrails.py``: ALL_AT_ONCE, CANARY or LINEAR by ``EndpointSpec.rollout``,
rolled back on the alarms the deployment creates, ``alarms.py``, and the
connection's). Every endpoint config captures requests and responses (Data
Capture). A poll that finds the endpoint back on the configuration a
deployment replaced reports it rolled back. ``ml.inf1.*`` has no guardrails:
its canaries are the portal's rollouts, each step a plain update; rollbacks
undo the portal's last change (``traffic.py``).
"""

from __future__ import annotations

import json
from typing import Any

from ..base import BackendError, EndpointSpec, EndpointStatus, EndpointVariant, NotReady, Upstream
from . import alarms, invocations, neo, registry, traffic
from .client import AwsClients, aws, aws_name, aws_tags, error_code, group_name, short_hash
from .guardrails import ROUTING, deployment_config
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
# Data Capture's content types, so that captured JSON and CSV bodies are written as text, not base64.
CAPTURE_CONTENT_TYPES = {"JsonContentTypes": ["application/json"], "CsvContentTypes": ["text/csv"]}


def deploy_endpoint(sm, settings: Settings, spec: EndpointSpec, *, cloudwatch=None) -> str:
    """Create the endpoint, or update it blue/green; with ``spec.guardrails``,
    through ``cloudwatch`` the alarms the update rolls back on are made first."""
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
            config = endpoint_config(
                sm, settings, name, [variant_request(v, models[v.name]) for v in spec.variants], spec
            )
            sm.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=aws_tags(spec.tags))
            return name
        if current["EndpointStatus"] != "InService":
            raise NotReady(f"Endpoint {name} is {current['EndpointStatus']}; the deploy waits for it.")
        if any(v.instance_type.startswith("ml.inf1.") for v in spec.variants):
            return _inf1_rollout(sm, settings, current, spec, models)
        config = endpoint_config(sm, settings, name, [variant_request(v, models[v.name]) for v in spec.variants], spec)
        if config == current["EndpointConfigName"]:
            return name  # already deployed (a redelivered submit)
        watched = settings.list("rollback_alarms")
        if spec.guardrails is not None:
            own = alarms.ensure(cloudwatch, name, _replaced_variant(current, spec), spec.guardrails, spec.tags)
            watched = own + [a for a in watched if a not in own]
        rollout = deployment_config(settings, spec, watched)
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


def _replaced_variant(current: dict, spec: EndpointSpec) -> str:
    """The one variant a guarded update replaces: guardrails need the new config to keep its name."""
    serving = [v["VariantName"] for v in current.get("ProductionVariants", [])]
    if len(spec.variants) != 1 or serving != [spec.variants[0].name]:
        raise BackendError(
            f"A guarded deployment replaces the endpoint's one variant under its name: {spec.name} serves "
            f"{', '.join(serving) or 'nothing'}, the deployment brings {', '.join(v.name for v in spec.variants)}.",
            permanent=True,
        )
    return serving[0]


def capture_config(settings: Settings) -> dict:
    """Data Capture of every request and response, under the connection's capture prefix."""
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": settings.capture_uri(),
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": CAPTURE_CONTENT_TYPES,
    }


def endpoint_config(sm, settings: Settings, endpoint: str, variants: list[dict], spec: EndpointSpec) -> str:
    """An endpoint config named by what it holds, so a resubmit reuses it (and a new capture prefix makes a new one)."""
    from botocore.exceptions import ClientError

    capture = capture_config(settings)
    name = f"{endpoint[:54].rstrip('-')}-{short_hash([variants, capture])}"
    try:
        sm.describe_endpoint_config(EndpointConfigName=name)
    except ClientError as exc:
        if error_code(exc) != "ValidationException":
            raise
        sm.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=variants, DataCaptureConfig=capture, Tags=aws_tags(spec.tags)
        )
    return name


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


def _inf1_rollout(sm, settings: Settings, current: dict, spec: EndpointSpec, models: dict[str, str]) -> str:
    """A step of the portal's own rollout on inf1, which has no deployment guardrails (AWS falls back
    to all at once, no baking): the variants and weights as given, in a plain UpdateEndpoint.

    The portal's rollout controller (apps/deployments/rollouts.py) is the one owner of an inf1
    shift: it adds the candidate at 0%, moves the weights stage by stage judging them on the
    gateway's metrics, and promotes or rolls back. A shift of the backend's own (it used to step
    the weights on each poll) would move traffic the controller has not judged and fight its
    stages, so a canary or linear ``spec.rollout`` is refused here rather than half-done."""
    if spec.rollout != "all_at_once":
        raise BackendError(
            f"SageMaker has no deployment guardrails for ml.inf1, so a {spec.rollout} rollout there is the "
            "portal's: deploy with a rollout (Deployments, or POST /api/v1/endpoints/), whose stages shift "
            "the traffic and judge it on the gateway's metrics.",
            permanent=True,
        )
    variants = [variant_request(v, models[v.name]) for v in spec.variants]
    config = endpoint_config(sm, settings, spec.name, variants, spec)
    if config == current["EndpointConfigName"]:
        return spec.name  # already deployed (a redelivered submit)
    sm.update_endpoint(EndpointName=spec.name, EndpointConfigName=config)
    traffic.push_undo(sm, current["EndpointArn"], f"config:{current['EndpointConfigName']}", {})
    return spec.name


def get_endpoint(sm, name: str) -> EndpointStatus:
    with aws(f"Read endpoint {name}"):
        endpoint = _existing(sm, name)
        state = ENDPOINT_STATES.get(endpoint["EndpointStatus"], "updating")
        weights = traffic.percentages(endpoint.get("ProductionVariants", []))
        undone = None
        if state == "in_service":
            undone = rollback_reason(endpoint, traffic.tags(sm, endpoint["EndpointArn"]))
    if undone is not None:
        return EndpointStatus(name=name, state=state, weights=weights, message=undone, rolled_back=True)
    return EndpointStatus(name=name, state=state, weights=weights, message=endpoint.get("FailureReason", ""))


def rollback_reason(described: dict, found_tags: dict[str, str]) -> str | None:
    """Why SageMaker undid the portal's last deployment on its own, or None when it did not.

    ``described`` is DescribeEndpoint's answer. A deployment remembers the
    configuration it replaced (``traffic.push_undo``); an endpoint in service on
    that configuration again was rolled back by SageMaker: an auto-rollback
    alarm tripped while the new fleet baked, or the new fleet failed to come up.
    DescribeEndpoint's FailureReason says which."""
    kind, previous = traffic.last_change(found_tags)
    if described.get("EndpointStatus") != "InService" or kind != "config":
        return None
    if previous != described.get("EndpointConfigName"):
        return None
    return described.get("FailureReason") or f"SageMaker rolled the deployment back to endpoint config {previous}."


def update_traffic(sm, name: str, weights: dict[str, int]) -> None:
    with aws(f"Change the traffic of endpoint {name}"):
        endpoint = _existing(sm, name)
        if endpoint["EndpointStatus"] != "InService":  # AWS refuses it mid-update
            raise NotReady(f"Endpoint {name} is {endpoint['EndpointStatus']}; the traffic change waits for it.")
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
        if rollback_reason(endpoint, tags) is not None:  # SageMaker undid the last deployment: undo the one before
            traffic.pop_undo(sm, endpoint["EndpointArn"], tags)
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


def delete_endpoint(sm, cloudwatch, name: str) -> None:
    """Delete the endpoint, then the alarms its deployments made."""
    from botocore.exceptions import ClientError

    with aws(f"Delete endpoint {name}"):
        try:
            sm.delete_endpoint(EndpointName=name)
        except ClientError as exc:
            if not (error_code(exc) == "ValidationException" and "Could not find" in str(exc)):
                raise
    with aws(f"Delete the CloudWatch alarms of endpoint {name}"):
        alarms.delete(cloudwatch, name)


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

    return Upstream(
        url=url,
        headers=headers,
        sign=sign,
        ttl=300.0,
        request_id_header=INFERENCE_ID_HEADER,
        unwrap=invocations.model_answer,
    )
