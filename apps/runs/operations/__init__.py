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

__all__ = ["OPERATIONS", "Job", "Operation", "first_error", "run_tags"]
