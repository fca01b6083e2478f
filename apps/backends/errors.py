"""How backend calls and jobs end, the same on every backend: a ``BackendError``
(permanent or transient), ``NotReady`` (not a failure: later), a kind that is
``BackendUnavailable`` here, and a job's ``JobState``. Importable from
``apps.backends.base`` as well, with the dataclasses and capabilities."""

from __future__ import annotations

import enum


class BackendError(Exception):
    """A backend call failed.

    ``permanent`` errors (bad input, access denied, the job failed in the
    cloud) fail the run at once; transient ones (throttling, a timeout, a
    stand-in restarting) are retried with backoff.
    """

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class NotReady(BackendError):
    """Not a failure: the backend is still preparing what the call needs (a
    Neo compilation before an Inferentia deploy, say). The engine calls again
    at its polling pace, without counting an attempt or backing off."""

    def __init__(self, message: str):
        super().__init__(message, permanent=False)


class BackendUnavailable(BackendError):
    """The backend kind exists in the design but is not usable here."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
