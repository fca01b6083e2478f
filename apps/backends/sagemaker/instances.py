"""What botocore's service model knows: instance types and enums, never a
hand-written copy; and the instance types behind the portal's deploy targets."""

from __future__ import annotations

from functools import cache

from ..base import BackendError

GPU_FAMILIES = ("p", "g")
# cpu/gpu/inferentia -> a general-purpose, a single-GPU and an Inferentia2 type (the latter compiled with Neo)
DEFAULT_INSTANCE_TYPES = {"cpu": "ml.m5.large", "gpu": "ml.g5.xlarge", "inferentia": "ml.inf2.xlarge"}


@cache
def _service_model(service: str):
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def enum(shape: str, service: str = "sagemaker") -> list[str]:
    """A valid-value list from botocore's service model, never a hand-written copy."""
    return list(_service_model(service).shape_for(shape).enum)


def training_instance_types() -> list[str]:
    return enum("TrainingInstanceType")


def endpoint_instance_types() -> list[str]:
    return enum("ProductionVariantInstanceType")


def is_gpu(instance_type: str) -> bool:
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else ""
    return family.startswith(GPU_FAMILIES)


def validate_instance_type(instance_type: str, *, use: str) -> str:
    valid = training_instance_types() if use == "training" else endpoint_instance_types()
    if instance_type not in valid:
        examples = ", ".join([t for t in valid if t.startswith(("ml.m5.", "ml.g5."))][:6])
        raise BackendError(
            f"{instance_type!r} is not a SageMaker {use} instance type "
            f"(botocore's service model lists {len(valid)}, e.g. {examples}).",
            permanent=True,
        )
    return instance_type


def instance_type_for(target: str) -> str:
    if target not in DEFAULT_INSTANCE_TYPES:
        raise BackendError(f"Unknown target {target!r}: one of cpu, gpu, inferentia.", permanent=True)
    return validate_instance_type(DEFAULT_INSTANCE_TYPES[target], use="endpoint")
