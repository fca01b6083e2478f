"""Every endpoint of the account, the portal's or not, for the endpoint mirror
(apps/deployments): ListEndpoints, then for an endpoint that changed
DescribeEndpoint (state, weights, instance counts), DescribeEndpointConfig
(instance types, models), DescribeModel (the model package version each model
serves) and ListTags (the portal's cost tags name the owning team)."""

from __future__ import annotations

import re

from ..base import EndpointDetails, EndpointSummary, EndpointVariant, ModelRef
from . import traffic
from .client import aws, error_code
from .endpoints import ENDPOINT_STATES, _existing

MODEL_PACKAGE_ARN = re.compile(r":model-package/(?P<group>[^/]+)/(?P<version>\d+)$")


def list_endpoints(sm) -> list[EndpointSummary]:
    """ListEndpoints, every page. An update (a new config, new weights) changes LastModifiedTime."""
    with aws("List endpoints"):
        pages = sm.get_paginator("list_endpoints").paginate(PaginationConfig={"PageSize": 100})
        return [
            EndpointSummary(
                name=e["EndpointName"],
                state=ENDPOINT_STATES.get(e["EndpointStatus"], "updating"),
                fingerprint=f"{e['EndpointStatus']}@{e['LastModifiedTime'].isoformat()}",
            )
            for page in pages
            for e in page.get("Endpoints", [])
        ]


def endpoint_details(sm, name: str) -> EndpointDetails:
    with aws(f"Read endpoint {name}"):
        endpoint = _existing(sm, name)
        endpoint_config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        live = {v["VariantName"]: v for v in endpoint.get("ProductionVariants", [])}
        configured = endpoint_config.get("ProductionVariants", [])
        weights = traffic.percentages(list(live.values()) or configured)
        models: dict[str, ModelRef] = {}
        variants = []
        for v in configured:
            model_name = v.get("ModelName", "")
            if model_name not in models:
                models[model_name] = _served_model(sm, model_name)
            count = live.get(v["VariantName"], {}).get("CurrentInstanceCount") or v.get("InitialInstanceCount") or 1
            variants.append(
                EndpointVariant(
                    name=v["VariantName"],
                    model=models[model_name],
                    instance_type=v.get("InstanceType") or ("serverless" if v.get("ServerlessConfig") else ""),
                    instance_count=int(count),
                    weight=weights.get(v["VariantName"], 0),
                )
            )
        tags = traffic.tags(sm, endpoint["EndpointArn"])
    return EndpointDetails(
        name=name,
        state=ENDPOINT_STATES.get(endpoint["EndpointStatus"], "updating"),
        variants=variants,
        tags={k: v for k, v in tags.items() if not k.startswith("atrium:")},  # the portal's undo stack is no label
        message=endpoint.get("FailureReason", ""),
    )


def _served_model(sm, model_name: str) -> ModelRef:
    """The model package (group, version) a SageMaker Model serves; else the Model's own name, no version."""
    from botocore.exceptions import ClientError

    try:
        model = sm.describe_model(ModelName=model_name)
    except ClientError as exc:
        if error_code(exc) != "ValidationException":
            raise
        return ModelRef(model_name, "")  # the Model was deleted: the endpoint serves it still
    for container in [model.get("PrimaryContainer") or {}, *model.get("Containers", [])]:
        found = MODEL_PACKAGE_ARN.search(container.get("ModelPackageName") or "")
        if found:
            return ModelRef(found["group"], found["version"])
    return ModelRef(model_name, "")
