"""The model registry: SageMaker model package groups and their versioned
model packages.

A portal model is the group ``group_name(model_name)`` ('_' and '.' become
'-'); the registry lists models by group name, and a group name maps onto
itself, so ``ModelRef(group, version)`` from a job is what
``list_model_versions`` and the portal's registry mirror look up. A job's
package is found again by its description, so a second poll registers
nothing new. Aliases are package tags ``atrium:alias:<alias>``; setting one
moves the tag off any other version of the group.
"""

from __future__ import annotations

import re

from ..base import (
    BackendError,
    ModelRef,
    ModelVersionDetails,
    ModelVersionInfo,
    RegisteredModelInfo,
)
from .client import aws, console_link, error_code, group_name, json_object, tag_dict
from .instances import enum

ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ALIAS_TAG = "atrium:alias:"


def serving_environment(hyperparameters: dict[str, str]) -> dict[str, str]:
    """The framework image serves with the handlers of the program the job trained with."""
    names = {"sagemaker_program": "SAGEMAKER_PROGRAM", "sagemaker_submit_directory": "SAGEMAKER_SUBMIT_DIRECTORY"}
    environment = {env: hyperparameters[hp] for hp, env in names.items() if hyperparameters.get(hp)}
    if environment and hyperparameters.get("sagemaker_region"):
        environment["SAGEMAKER_REGION"] = hyperparameters["sagemaker_region"]
    return environment


def group_link(region: str, group: str):
    return console_link(region, "SageMaker model package group", f"model-registry/{group}")


def register(sm, job: dict) -> tuple[ModelRef, dict]:
    """The completed training job's model package (versioned), created on the
    first poll that sees it: the version, and the extras a later step may read."""
    name = job["TrainingJobName"]
    group = group_name(job.get("HyperParameters", {}).get("model_name") or name)
    description = f"Trained by SageMaker training job {name}"
    with aws("Register the model in SageMaker"):
        tags = sm.list_tags(ResourceArn=job["TrainingJobArn"]).get("Tags", [])
        _ensure_group(sm, group, tags)
        package = next((p for p in packages(sm, group) if p.get("ModelPackageDescription") == description), None)
        if package is None:
            metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
            metadata = {"training_job": name, **{f"metric:{k}": str(v) for k, v in metrics.items()}}
            run = tag_dict(tags).get("run", "")
            if run:
                metadata["run"] = run
            arn = sm.create_model_package(
                ModelPackageGroupName=group,
                ModelPackageDescription=description,
                InferenceSpecification={
                    "Containers": [
                        {
                            "Image": job["AlgorithmSpecification"]["TrainingImage"],
                            "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"],
                            "Environment": serving_environment(job.get("HyperParameters", {})),
                        }
                    ],
                    "SupportedContentTypes": ["application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
                ModelApprovalStatus="PendingManualApproval",
                CustomerMetadataProperties=metadata,
                Tags=tags,
            )["ModelPackageArn"]
            package = sm.describe_model_package(ModelPackageName=arn)
    model = ModelRef(name=group, version=str(package["ModelPackageVersion"]))
    return model, {
        "model_package_arn": package["ModelPackageArn"],
        "model_uri": job.get("ModelArtifacts", {}).get("S3ModelArtifacts", ""),
    }


def _ensure_group(sm, group: str, tags: list[dict]) -> None:
    from botocore.exceptions import ClientError

    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        if error_code(exc) not in ("ValidationException", "ResourceNotFound"):
            raise
        sm.create_model_package_group(
            ModelPackageGroupName=group, ModelPackageGroupDescription="Registered by Atrium", Tags=tags
        )


def packages(sm, group: str) -> list[dict]:
    found, token = [], None
    while True:
        page = sm.list_model_packages(
            ModelPackageGroupName=group, MaxResults=100, **({"NextToken": token} if token else {})
        )
        found += page.get("ModelPackageSummaryList", [])
        token = page.get("NextToken")
        if not token:
            return found


def package_arn(sm, model: ModelRef) -> str:
    for package in packages(sm, group_name(model.name)):
        if str(package.get("ModelPackageVersion")) == str(model.version):
            return package["ModelPackageArn"]
    raise BackendError(f"Model {model.name} has no version {model.version} in SageMaker.", permanent=True)


def _tags(sm, arn: str) -> dict[str, str]:
    return tag_dict(sm.list_tags(ResourceArn=arn).get("Tags", []))


def list_model_versions(sm, model_name: str) -> list[ModelVersionInfo]:
    versions = []
    with aws("List the model's versions in SageMaker"):
        for summary in packages(sm, group_name(model_name)):
            arn = summary["ModelPackageArn"]
            package = sm.describe_model_package(ModelPackageName=arn)
            tags = _tags(sm, arn)
            metadata = package.get("CustomerMetadataProperties") or {}
            containers = package.get("InferenceSpecification", {}).get("Containers", [{}])
            created = package.get("CreationTime")
            versions.append(
                ModelVersionInfo(
                    name=model_name,
                    version=str(package["ModelPackageVersion"]),
                    source_run_id=metadata.get("run", ""),
                    aliases=sorted(k[len(ALIAS_TAG) :] for k in tags if k.startswith(ALIAS_TAG)),
                    approval_status=package.get("ModelApprovalStatus", ""),
                    tags={k: v for k, v in tags.items() if not k.startswith(ALIAS_TAG)},
                    metrics={k[7:]: float(v) for k, v in metadata.items() if k.startswith("metric:")},
                    artifact_uri=containers[0].get("ModelDataUrl", ""),
                    created_at=created.timestamp() if created else None,
                )
            )
    return sorted(versions, key=lambda v: int(v.version))


def set_alias(sm, model: ModelRef, alias: str) -> None:
    """An alias is the tag ``atrium:alias:<alias>`` on one version of the group."""
    if not ALIAS.match(alias or ""):
        raise BackendError(f"Invalid alias {alias!r}: letters, digits, '.', '_' or '-'.", permanent=True)
    key = ALIAS_TAG + alias
    with aws("Set the model alias in SageMaker"):
        target = package_arn(sm, model)
        for package in packages(sm, group_name(model.name)):
            arn = package["ModelPackageArn"]
            if arn != target and key in _tags(sm, arn):
                sm.delete_tags(ResourceArn=arn, TagKeys=[key])
        sm.add_tags(ResourceArn=target, Tags=[{"Key": key, "Value": "true"}])


def set_approval_status(sm, model: ModelRef, status: str) -> None:
    valid = enum("ModelApprovalStatus")
    aliases = {v.lower(): v for v in valid} | {"pending": "PendingManualApproval"}
    value = aliases.get(str(status).replace("_", "").lower()) or aliases.get(str(status).lower())
    if value is None:
        raise BackendError(f"Unknown approval status {status!r}; one of {', '.join(valid)}.", permanent=True)
    with aws("Set the model's approval status in SageMaker"):
        sm.update_model_package(ModelPackageArn=package_arn(sm, model), ModelApprovalStatus=value)


# --- registry mirror (apps/registry) ------------------------------------------------


def list_registered_models(sm) -> list[RegisteredModelInfo]:
    """Every model package group, with its tags. No fingerprint: a group
    does not say when its packages last changed, so the mirror reads them."""
    groups, token = [], None
    with aws("List the model package groups in SageMaker"):
        while True:
            page = sm.list_model_package_groups(MaxResults=100, **({"NextToken": token} if token else {}))
            groups += page.get("ModelPackageGroupSummaryList", [])
            token = page.get("NextToken")
            if not token:
                break
        infos = []
        for group in groups:
            created = group.get("CreationTime")
            infos.append(
                RegisteredModelInfo(
                    name=group["ModelPackageGroupName"],
                    description=group.get("ModelPackageGroupDescription", ""),
                    tags=_tags(sm, group["ModelPackageGroupArn"]),
                    updated_at=created.timestamp() if created else None,
                )
            )
    return infos


def model_version_details(sm, model: ModelRef) -> ModelVersionDetails:
    """The training job's hyperparameters and input; SageMaker keeps no input schema."""
    from botocore.exceptions import ClientError

    with aws("Describe the model package in SageMaker"):
        package = sm.describe_model_package(ModelPackageName=package_arn(sm, model))
        job_name = (package.get("CustomerMetadataProperties") or {}).get("training_job", "")
        job = {}
        if job_name:
            try:
                job = sm.describe_training_job(TrainingJobName=job_name)
            except ClientError as exc:
                if error_code(exc) not in ("ValidationException", "ResourceNotFound"):
                    raise
    params = dict(job.get("HyperParameters") or {})
    params.update(json_object(params.pop("hyperparameters", "")))
    channels = job.get("InputDataConfig") or []
    source = channels[0].get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "") if channels else ""
    return ModelVersionDetails(
        params={k: str(v) for k, v in params.items()},
        dataset=params.get("dataset") or source,
        stage=(package.get("ModelLifeCycle") or {}).get("Stage", ""),
        created_by=(package.get("CreatedBy") or {}).get("UserProfileName", ""),
        description=package.get("ModelPackageDescription", ""),
    )


def delete_alias(sm, model_name: str, alias: str) -> None:
    key = ALIAS_TAG + alias
    with aws("Remove the model alias in SageMaker"):
        for package in packages(sm, group_name(model_name)):
            arn = package["ModelPackageArn"]
            if key in _tags(sm, arn):
                sm.delete_tags(ResourceArn=arn, TagKeys=[key])


def set_version_tag(sm, model: ModelRef, key: str, value: str) -> None:
    if key.startswith(ALIAS_TAG) or key.startswith("aws:"):
        raise BackendError(f"The tag key {key!r} is reserved.", permanent=True)
    with aws("Tag the model package in SageMaker"):
        sm.add_tags(ResourceArn=package_arn(sm, model), Tags=[{"Key": key, "Value": value}])


def delete_version_tag(sm, model: ModelRef, key: str) -> None:
    with aws("Remove the model package tag in SageMaker"):
        sm.delete_tags(ResourceArn=package_arn(sm, model), TagKeys=[key])
