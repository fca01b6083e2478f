"""CUDA GPUs of this machine, as ``nvidia-smi -L`` lists them ("GPU 0: <name>
(UUID: ...)"). The local backend serves a ``gpu`` variant on them when there
is one (its model server process sees them through CUDA_VISIBLE_DEVICES) and
refuses ``gpu`` otherwise, saying why. Asked once per process: GPUs do not
come and go while the portal runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache

LISTED = re.compile(r"^GPU (\d+):", re.MULTILINE)
CPU_TYPE, GPU_TYPE = "local-cpu", "local-gpu"  # the local backend's instance types
NO_GPU = (
    "No CUDA GPU is visible on this machine (nvidia-smi lists none), so the local backend serves on its CPU only. "
    "Choose cpu, or deploy through a SageMaker or Databricks connection for a GPU."
)


@lru_cache(maxsize=1)
def visible_gpus() -> tuple[str, ...]:
    """The indices of the GPUs ``nvidia-smi -L`` lists; () without a driver, a GPU or an answer."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return ()
    try:
        listed = subprocess.run([command, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if listed.returncode != 0:
        return ()
    return tuple(LISTED.findall(listed.stdout))


def server_environment(instance_types: list[str]) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES for a model server: every GPU when one of its variants is
    on ``local-gpu``; none otherwise, so a CPU endpoint never takes a GPU unasked."""
    wanted = GPU_TYPE in instance_types
    return {"CUDA_VISIBLE_DEVICES": ",".join(visible_gpus()) if wanted else ""}
