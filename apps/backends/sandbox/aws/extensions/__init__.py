"""Atrium's extensions to moto, for the AWS STAND-IN (moto's server; not AWS):
every place the stand-in changes moto is listed here, one module per API
surface, each saying what real AWS behaviour it adds and why. They are patched
into moto's SageMaker backend and response classes of this process before the
server starts (moto's server runs in the same process).

* ``training``: training jobs pass through InProgress over polls, fail on
  request or on a missing submit directory, keep their metric definitions,
  reject a duplicate name, can be stopped; with ``programs_dir`` they run their
  program (metrics are otherwise FABRICATED).
* ``tuning``: a tuning job runs one training job per trial and names the best
  one when they end (trial metrics FABRICATED without ``programs_dir``).
* ``endpoints``: endpoints pass Creating/Updating -> InService over polls;
  UpdateEndpoint with a checked DeploymentConfig, rolled back when one of its
  auto-rollback alarms is in ALARM as it ends; instance types from botocore's
  service model.
* ``compilation``: Neo compilation jobs pass INPROGRESS -> COMPLETED over polls.
* ``model_registry``: tags on model packages, UpdateModelPackage keeping what
  it is not given, DeleteModelPackage / DeleteModelPackageGroup.
* ``runtime``: with ``programs_dir``, InvokeEndpoint answers with the
  endpoint's real model.
* ``data_capture``: invocations of an endpoint whose config enables
  DataCaptureConfig are written to S3 as Data Capture JSON Lines.
* ``billing``: Cost Explorer's GetCostAndUsage answers any period from seeded
  daily costs (grouped, filtered, recent days estimated) when moto's canned
  queue has no answer for the request.

Faults (throttling, denied keys) are not patches but a WSGI middleware around
moto's app: see ``..faults``.
"""

from __future__ import annotations

import threading

from . import billing, compilation, data_capture, endpoints, model_registry, runtime, training, tuning
from .compilation import COMPILATION_POLLS
from .endpoints import ENDPOINT_POLLS
from .training import FAIL_MARKER, TRAINING_POLLS

__all__ = ["COMPILATION_POLLS", "ENDPOINT_POLLS", "FAIL_MARKER", "TRAINING_POLLS", "install_extensions"]

_installed = False
_install_lock = threading.Lock()


def install_extensions() -> None:
    """Patch moto's SageMaker backend and responses (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        training.patch()
        endpoints.patch()
        compilation.patch()
        model_registry.patch()
        tuning.patch()
        runtime.patch()
        data_capture.patch()  # after runtime: it wraps whichever InvokeEndpoint answers
        billing.patch()
        _installed = True
