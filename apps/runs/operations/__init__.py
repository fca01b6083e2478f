"""What each kind of run step asks of its backend.

The run engine is the same for every kind: submit once with the idempotency
key, then poll until the backend says the work is over. An operation says how
a kind checks its params, submits, polls and cancels (``base``); jobs and
endpoints are the two families (``jobs``, ``endpoints``).
"""

from .base import Job, Operation, first_error, run_tags
from .endpoints import Deploy, Rollback, Traffic, Undeploy
from .jobs import Batch, Provision, Teardown, Train, Tune

OPERATIONS: dict[str, Operation] = {
    op.kind: op
    for op in (Train(), Tune(), Batch(), Deploy(), Traffic(), Rollback(), Undeploy(), Provision(), Teardown())
}


def operation_register(operation: Operation) -> None:
    """Feature apps add their own kinds of step (a rollout stage...) from their AppConfig.ready."""
    existing = OPERATIONS.get(operation.kind)
    if existing is not None and type(existing) is not type(operation):
        raise ValueError(f"Two operations for step kind {operation.kind!r}.")
    OPERATIONS[operation.kind] = operation


__all__ = ["OPERATIONS", "Job", "Operation", "first_error", "operation_register", "run_tags"]
