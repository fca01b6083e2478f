"""SageMaker registry objects made with boto3 on the stand-in, as another tool than the
portal would make them ("upstream"): what the registry sync, the endpoint mirror and the
deployments read."""

import uuid

IMAGE = "123.dkr.ecr.us-east-1.amazonaws.com/x:1"


def package(sm, group, *, metrics=None, run=""):
    """One version in a model package group, with its metrics as SageMaker Studio keeps them."""
    metadata = {"training_job": "", **{f"metric:{k}": str(v) for k, v in (metrics or {}).items()}}
    if run:
        metadata["run"] = run
    return sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="registered upstream",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://b/{group}.tgz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={k: v for k, v in metadata.items() if v},
    )["ModelPackageArn"]


def package_group(sm, *, versions: int, prefix: str = "g") -> str:
    """A new model package group with ``versions`` versions; its name."""
    group = f"{prefix}-{uuid.uuid4().hex[:8]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    for _ in range(versions):
        package(sm, group)
    return group


def served_model(sm, name: str, *, package_arn: str = "") -> str:
    """A SageMaker Model serving a model package version, or (no ``package_arn``) a bare image; its name."""
    container = {"ModelPackageName": package_arn} if package_arn else {"Image": IMAGE}
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::1:role/r", PrimaryContainer=container)
    return name


def endpoint_config(sm, name: str, variants) -> str:
    """An endpoint config; ``variants``: (variant, model, instance type, instance count, weight) each. Its name."""
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InstanceType": instance_type,
                "InitialInstanceCount": count,
                "InitialVariantWeight": weight,
            }
            for variant, model, instance_type, count, weight in variants
        ],
    )
    return name


def version_arns(sm, group: str) -> dict[str, str]:
    """{version: model package ARN} of a group."""
    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    return {str(p["ModelPackageVersion"]): p["ModelPackageArn"] for p in listed}
