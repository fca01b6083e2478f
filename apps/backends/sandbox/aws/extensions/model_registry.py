"""Part of the AWS STAND-IN (moto, not AWS): the SageMaker model registry
(model packages and model package groups), patched into moto's SageMaker
backend.

What it adds to moto, and why:

* AddTags / ListTags / DeleteTags work on model-package ARNs (moto did not
  find them), and tags replace same-key tags as on AWS: Atrium keeps a
  version's metadata in its tags.
* UpdateModelPackage keeps what it is not given, as AWS does (moto cleared the
  approval status and customer metadata).
* DeleteModelPackage and DeleteModelPackageGroup (missing in moto), as AWS
  answers them: a group with packages left cannot be deleted. The models
  mirror's tests delete upstream with these.
"""

from __future__ import annotations


def patch() -> None:
    _patch_model_packages()
    _patch_deletes()


def _patch_model_packages() -> None:
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend

    original_resource = SageMakerModelBackend._get_resource_from_arn
    original_update = SageMakerModelBackend.update_model_package

    def _get_resource_from_arn(self, arn):
        if ":model-package/" in arn:
            package = self.model_packages.get(self.model_package_name_mapping.get(arn, arn))
            if package is None:
                raise ValidationError(message=f"Could not find model package {arn}")
            if package.tags is None:
                package.tags = []
            return package
        return original_resource(self, arn)

    def add_tags(self, arn, tags):
        resource = self._get_resource_from_arn(arn)
        keys = {tag["Key"] for tag in tags}
        resource.tags = [tag for tag in (resource.tags or []) if tag["Key"] not in keys] + list(tags)
        return resource.tags

    def update_model_package(
        self,
        model_package_arn,
        model_approval_status,
        approval_description,
        customer_metadata_properties,
        customer_metadata_properties_to_remove,
        additional_inference_specifications_to_add,
    ):
        package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
        if package is not None:
            model_approval_status = model_approval_status or package.model_approval_status
            approval_description = approval_description or package.approval_description
            customer_metadata_properties = {
                **(package.customer_metadata_properties or {}),
                **(customer_metadata_properties or {}),
            }
        return original_update(
            self,
            model_package_arn,
            model_approval_status,
            approval_description,
            customer_metadata_properties,
            customer_metadata_properties_to_remove,
            additional_inference_specifications_to_add,
        )

    SageMakerModelBackend._get_resource_from_arn = _get_resource_from_arn
    SageMakerModelBackend.add_tags = add_tags
    SageMakerModelBackend.update_model_package = update_model_package


def _patch_deletes() -> None:
    """DeleteModelPackage and DeleteModelPackageGroup (missing in moto), as AWS
    answers them: a group with packages left cannot be deleted. The models
    mirror's tests delete upstream with these."""
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def delete_model_package(self, model_package_name):
        arn = self.model_package_name_mapping.get(model_package_name, model_package_name)
        if self.model_packages.pop(arn, None) is None:
            raise ValidationError(message=f"Model package {model_package_name} does not exist.")
        for key in [key for key, value in self.model_package_name_mapping.items() if value == arn]:
            del self.model_package_name_mapping[key]

    def delete_model_package_group(self, model_package_group_name):
        if model_package_group_name not in self.model_package_groups:
            raise ValidationError(message=f"Model package group {model_package_group_name} does not exist.")
        if any(p.model_package_group_name == model_package_group_name for p in self.model_packages.values()):
            raise ValidationError(message="The model package group still has model packages; delete them first.")
        del self.model_package_groups[model_package_group_name]

    def delete_model_package_response(self):
        self.sagemaker_backend.delete_model_package(self._get_param("ModelPackageName"))
        return EmptyResult()

    def delete_model_package_group_response(self):
        self.sagemaker_backend.delete_model_package_group(self._get_param("ModelPackageGroupName"))
        return EmptyResult()

    SageMakerModelBackend.delete_model_package = delete_model_package
    SageMakerModelBackend.delete_model_package_group = delete_model_package_group
    SageMakerResponse.delete_model_package = delete_model_package_response
    SageMakerResponse.delete_model_package_group = delete_model_package_group_response
