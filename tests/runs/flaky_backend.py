"""A fault-injecting backend for the engine's tests: a stand-in for a cloud API
that throttles, or an adapter with a bug, which no real service does on
demand here. (The cloud stand-ins in apps/backends/sandbox throttle over HTTP.)"""

from apps.backends.base import BackendUnavailable, JobState, JobStatus, ModelRef


class FlakyBackend:
    kind = "flaky"
    failures: list[Exception] = []  # raised by the next submits, in order
    poll_failures: list[Exception] = []  # raised by the next polls, in order
    submitted: list[str] = []
    cancelled: list[str] = []
    connection_settings = ()

    @classmethod
    def from_settings(cls):
        return cls()

    def submit_training(self, spec):
        if FlakyBackend.failures:
            raise FlakyBackend.failures.pop(0)
        FlakyBackend.submitted.append(spec.key)
        return f"job-{spec.key}"

    def poll_training(self, external_id, *, log_cursor=0):
        if FlakyBackend.poll_failures:
            raise FlakyBackend.poll_failures.pop(0)
        return JobStatus(
            state=JobState.SUCCEEDED,
            progress=100,
            logs=["done"],
            log_cursor=log_cursor + 1,
            outputs={"job": external_id},
            model=ModelRef(name="flaky-model", version="1"),
            metrics={"accuracy": 0.9},
        )

    def cancel_training(self, external_id):
        FlakyBackend.cancelled.append(external_id)

    # The rest of the Jobs capability (apps.backends.base.Jobs), which these tests never use.
    def _unused(self, *args, **kwargs):
        raise BackendUnavailable("Not part of the flaky test double.")

    submit_tuning = poll_tuning = cancel_tuning = _unused
    submit_batch = poll_batch = cancel_batch = _unused
    provision = poll_provision = teardown = _unused
