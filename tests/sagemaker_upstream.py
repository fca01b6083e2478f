"""SageMaker registry objects made with boto3 on the stand-in, as another tool than the
portal would make them ("upstream"): what the registry sync, the endpoint mirror and the
deployments read."""

import uuid


def package(sm, group, *, metrics=None, run=""):
    """One version in a model package group, with its metrics as SageMaker Studio keeps them."""
    metadata = {"training_job": "", **{f"metric:{k}": str(v) for k, v in (metrics or {}).items()}}
    if run:
        metadata["run"] = run
    return sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="registered upstream",
        InferenceSpecification={
            "Containers": [{"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": f"s3://b/{group}.tgz"}],
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
