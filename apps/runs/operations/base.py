"""The shape every operation has, and the ``Job`` it works on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from apps.backends.base import (
    Backend,
    BackendError,
    Jobs,
    JobStatus,
)

from ..models import CANCELLABLE_KINDS, Run

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")  # valid for SageMaker and Databricks endpoints


@dataclass(frozen=True)
class Job:
    """What an operation needs: the idempotency key, the inputs, where the
    backend job is and how far its log has been read, and the tags to put on
    everything it creates."""

    key: str
    params: dict
    external_id: str = ""
    log_cursor: int = 0
    tags: dict[str, str] = field(default_factory=dict)


def run_tags(run: Run, params: dict | None = None) -> dict[str, str]:
    """Cost-allocation tags the backend puts on everything it creates."""
    params = run.params if params is None else params
    return {
        "team": run.team.slug,
        "run": str(run.pk),
        "project": str(params.get("project") or run.params.get("project") or "default"),
        "model": str(params.get("model_name") or run.params.get("model_name") or ""),
        # what an endpoint's bill is attributed to (apps/costs): the endpoint, where the run has one
        **({"endpoint": str(params["endpoint"])} if params.get("endpoint") else {}),
    }


def first_error(errors: dict, prefix: str = "") -> str:
    field, value = next(iter(errors.items()))
    if isinstance(value, dict):
        return first_error(value, f"{prefix}{field}.")
    return f"{prefix}{field}: {value[0]}"


class Operation:
    kind: ClassVar[str]
    capability: ClassVar[type] = Jobs  # what the operation asks of a backend (apps.backends.base)
    # The step's message on success is the job's own (a rollout stage's verdict), not "Succeeded".
    says_why: ClassVar[bool] = False

    @property
    def cancellable(self) -> bool:
        return self.kind in CANCELLABLE_KINDS

    def validate(self, params: dict) -> dict:
        """Errors per field; empty when the params are good."""
        raise NotImplementedError

    def validate_for(self, params: dict, *, backend_kind: str) -> dict:
        """What a backend of ``backend_kind`` cannot do of otherwise valid params
        (known without calling it), so a launch is refused before anything is made."""
        return {}

    def submit(self, backend: Backend, job: Job) -> str:
        raise NotImplementedError

    def poll(self, backend: Backend, job: Job) -> JobStatus:
        raise NotImplementedError

    def cancel(self, backend: Backend, job: Job) -> None:
        raise BackendError(f"A {self.kind} run cannot be cancelled once submitted.", permanent=True)
