"""The local backend's GPU: ``gpu`` is refused with a clear 400 where no CUDA
GPU is visible, and served with the GPUs visible to the model server where
``nvidia-smi -L`` lists some. This machine has none: a stand-in ``nvidia-smi``
on the PATH plays both machines; a model server on a real GPU is untested here."""

import os

import pytest

from apps.backends.local import gpu
from apps.deployments.models import Endpoint
from apps.runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def nvidia_smi(tmp_path, monkeypatch):
    """A stand-in ``nvidia-smi`` first on the PATH, printing ``listing`` (exit 9 with none, as
    the real one does without a driver). The detection is cached per process: cleared around."""

    def install(listing: str = ""):
        script = tmp_path / "nvidia-smi"
        if listing:
            script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{listing}\nEOF\n")
        else:
            script.write_text(
                "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver.'\nexit 9\n"
            )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
        gpu.visible_gpus.cache_clear()

    yield install
    gpu.visible_gpus.cache_clear()


def test_gpu_on_the_local_backend_without_a_visible_gpu_is_a_clear_400(api, ds_client, nvidia_smi):
    nvidia_smi()  # a driver-less machine, like this one
    body = {"endpoint": "on-gpu", "model_name": "iris", "model_version": "1", "target": "gpu"}
    answer = api.post("/api/v1/endpoints/", body, format="json")
    assert answer.status_code == 400
    assert "No CUDA GPU is visible on this machine (nvidia-smi lists none)" in answer.json()["target"][0]
    assert not Endpoint.objects.exists() and not Run.objects.exists()

    runs_api = api.post(
        "/api/v1/runs/",
        {"kind": "deploy", "params": {"endpoint": "on-gpu", "variants": [{**body, "name": "a"}]}},
        format="json",
    )
    assert runs_api.status_code == 400 and "No CUDA GPU is visible" in str(runs_api.json())
    assert not Run.objects.exists()


def test_a_visible_gpu_is_a_local_target_and_its_server_sees_it(nvidia_smi):
    from apps.backends import registry as backend_registry
    from apps.backends.base import BackendError
    from apps.backends.local.backend import LocalBackend

    nvidia_smi("GPU 0: NVIDIA A10G (UUID: GPU-0a1b)\nGPU 1: NVIDIA A10G (UUID: GPU-2c3d)")
    assert backend_registry.deploy_targets("local") == ("cpu", "gpu")
    backend = LocalBackend.from_settings()
    assert backend.instance_type_for("gpu") == "local-gpu" and backend.instance_type_for("cpu") == "local-cpu"
    assert gpu.server_environment(["local-cpu", "local-gpu"]) == {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert gpu.server_environment(["local-cpu"]) == {"CUDA_VISIBLE_DEVICES": ""}  # a CPU endpoint takes no GPU
    price = backend.hosting_price("local-gpu")  # the operator's GPU-hour rate (0 unless set) for each GPU
    assert price.amount == 0.0 and price.source.endswith("GPU-hour rate (ATRIUM_LOCAL_GPU_HOUR_RATE) × 2 GPU")

    nvidia_smi()
    assert backend_registry.deploy_targets("local") == ("cpu",)
    with pytest.raises(BackendError) as refused:
        backend.instance_type_for("gpu")
    assert refused.value.permanent and "No CUDA GPU is visible" in refused.value.message
