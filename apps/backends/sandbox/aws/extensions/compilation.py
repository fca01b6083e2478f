"""Part of the AWS STAND-IN (moto, not AWS): SageMaker Neo compilation jobs
(CreateCompilationJob, DescribeCompilationJob), patched into moto's SageMaker
backend.

What it adds to moto, and why: a compilation job passes ``INPROGRESS`` ->
``COMPLETED`` over polls, as on AWS (moto answers COMPLETED at once), so the
backend's waiting for it is exercised. Nothing is compiled.
"""

from __future__ import annotations

import weakref

COMPILATION_POLLS = 1

_progress: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # moto's compilation job -> our bookkeeping


def patch() -> None:
    from moto.core.utils import utcnow
    from moto.sagemaker.models import SageMakerModelBackend

    original_create = SageMakerModelBackend.create_compilation_job
    original_describe = SageMakerModelBackend.describe_compilation_job

    def create_compilation_job(self, compilation_job_name, *args, **kwargs):
        arn = original_create(self, compilation_job_name, *args, **kwargs)
        job = self.compilation_jobs[compilation_job_name]
        job.compilation_job_status = "INPROGRESS"
        job.compilation_end_time = None
        _progress[job] = {"polls": 0}
        return arn

    def describe_compilation_job(self, compilation_job_name):
        job = self.compilation_jobs.get(compilation_job_name)
        state = _progress.get(job) if job is not None else None
        if state is not None and job.compilation_job_status == "INPROGRESS":
            state["polls"] += 1
            if state["polls"] > COMPILATION_POLLS:
                job.compilation_job_status = "COMPLETED"
                job.compilation_end_time = job.last_modified_time = utcnow()
        return original_describe(self, compilation_job_name)

    SageMakerModelBackend.create_compilation_job = create_compilation_job
    SageMakerModelBackend.describe_compilation_job = describe_compilation_job
