"""Resources as CloudFormation stacks: a "workspace" is an S3 bucket for
artifacts, a SageMaker execution role and an ECR repository, in a stack named
after the resource key (a second provision finds the first stack)."""

from __future__ import annotations

import json

from ..base import BackendError, JobState, JobStatus, ResourceSpec
from .client import aws, aws_name, aws_tags, console_link, error_code

STACK_TEMPLATES = {"workspace"}


def provision(cloudformation, spec: ResourceSpec) -> str:
    if spec.kind not in STACK_TEMPLATES:
        raise BackendError(
            f"Unknown resource {spec.kind!r} on AWS; one of {', '.join(sorted(STACK_TEMPLATES))}.", permanent=True
        )
    stack = aws_name(spec.key, "resource key")
    name = aws_name(str(spec.parameters.get("name") or spec.key), "resource name").lower()
    from botocore.exceptions import ClientError

    with aws("Create the CloudFormation stack"):
        try:
            cloudformation.create_stack(
                StackName=stack,
                TemplateBody=json.dumps(workspace_template()),
                Parameters=[{"ParameterKey": "Name", "ParameterValue": name}],
                Capabilities=["CAPABILITY_NAMED_IAM"],
                Tags=aws_tags({**spec.tags, "atrium:resource": spec.kind}),
            )
        except ClientError as exc:
            if error_code(exc) != "AlreadyExistsException":
                raise
    return stack


def stack_link(region: str, stack_id: str):
    page = f"stacks/stackinfo?stackId={stack_id}"
    return console_link(region, "CloudFormation stack", page, service="cloudformation")


def poll_provision(cloudformation, region: str, external_id: str) -> JobStatus:
    with aws("Read the CloudFormation stack"):
        stack = cloudformation.describe_stacks(StackName=external_id)["Stacks"][0]
    status = stack["StackStatus"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    links = [stack_link(region, external_id)]
    if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        return JobStatus(state=JobState.SUCCEEDED, progress=100, message="Ready", outputs=outputs, links=links)
    if status.endswith("IN_PROGRESS") and not status.startswith(("ROLLBACK", "DELETE")):
        return JobStatus(state=JobState.RUNNING, progress=50, message=status, links=links)
    reason = stack.get("StackStatusReason") or status
    return JobStatus(state=JobState.FAILED, message=f"Stack {external_id} is {status}: {reason}", links=links)


def teardown(cloudformation, external_id: str) -> None:
    with aws("Delete the CloudFormation stack"):
        cloudformation.delete_stack(StackName=external_id)


def stack_status(cloudformation, external_id: str) -> str:
    """The stack's status; ``DELETE_COMPLETE`` once a teardown is over."""
    from botocore.exceptions import ClientError

    with aws("Read the CloudFormation stack"):
        try:
            return cloudformation.describe_stacks(StackName=external_id)["Stacks"][0]["StackStatus"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return "DELETE_COMPLETE"
            raise


def workspace_template() -> dict:
    """S3 bucket for artifacts, the SageMaker execution role, an ECR repository."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Atrium workspace: artifacts bucket, SageMaker execution role, image repository",
        "Parameters": {"Name": {"Type": "String"}},
        "Resources": {
            "ArtifactBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "ExecutionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Fn::Sub": "atrium-${Name}-sagemaker"},
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "sagemaker.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"],
                },
            },
            "Repository": {
                "Type": "AWS::ECR::Repository",
                "Properties": {"RepositoryName": {"Fn::Sub": "atrium/${Name}"}},
            },
        },
        "Outputs": {
            "BucketName": {"Value": {"Ref": "ArtifactBucket"}},
            "RoleArn": {"Value": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}},
            "RepositoryUri": {"Value": {"Fn::GetAtt": ["Repository", "RepositoryUri"]}},
        },
    }
