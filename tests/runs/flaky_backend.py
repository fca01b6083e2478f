"""A fault-injecting backend for the retry tests: a stand-in for a cloud API
that throttles, which no real service does on demand here. (The cloud
stand-ins in apps/backends/sandbox do the same over HTTP.)"""

from apps.backends.base import BackendError, JobState, JobStatus


class FlakyBackend:
    kind = "flaky"
    failures: list[BackendError] = []
    submitted: list[str] = []

    @classmethod
    def from_settings(cls):
        return cls()

    def submit_training(self, spec):
        if FlakyBackend.failures:
            raise FlakyBackend.failures.pop(0)
        FlakyBackend.submitted.append(spec.key)
        return f"job-{spec.key}"

    def poll_training(self, external_id, *, log_cursor=0):
        return JobStatus(
            state=JobState.SUCCEEDED,
            progress=100,
            logs=["done"],
            log_cursor=log_cursor + 1,
            outputs={"model_version": "1"},
        )
