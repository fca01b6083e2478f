"""A STAND-IN for AWS, not AWS: moto's server with the few server-side
extensions the SageMaker backend's flows need where moto is incomplete.

It speaks the real wire protocol, so boto3 reaches it through ``endpoint_url``
(or ``AWS_ENDPOINT_URL``) alone; the backend has no sandbox branch.

* ``server``: ``AwsStandIn`` (moto's threaded server with the extensions and
  the fault middleware) and the seeding helpers (``create_bucket``,
  ``seed_costs``, ``seed_invocations``).
* ``extensions``: every patch to moto, one module per API surface, each saying
  what real AWS behaviour it adds and why.
* ``faults``: throttling and denied access keys, on demand.
* ``programs``: with ``programs_dir``, training jobs run their program on this
  machine and endpoints answer with its model.

Run it: ``python -m apps.backends.sandbox.aws --port 5010`` (see ``__main__``).
"""

from __future__ import annotations

from .extensions import COMPILATION_POLLS, ENDPOINT_POLLS, FAIL_MARKER, TRAINING_POLLS, install_extensions
from .faults import DENIED_KEY_PREFIX, FAULTS_PATH, FaultMiddleware, Faults
from .server import AwsStandIn, create_bucket, seed_costs, seed_invocations

__all__ = [
    "COMPILATION_POLLS",
    "DENIED_KEY_PREFIX",
    "ENDPOINT_POLLS",
    "FAIL_MARKER",
    "FAULTS_PATH",
    "TRAINING_POLLS",
    "AwsStandIn",
    "FaultMiddleware",
    "Faults",
    "create_bucket",
    "install_extensions",
    "seed_costs",
    "seed_invocations",
]
