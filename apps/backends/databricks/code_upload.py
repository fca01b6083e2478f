"""The code a job run executes, put in the workspace before the first run.

A run executes ``cluster_job.py`` (``apps/backends/jobs``) as a
``spark_python_task``. The backend uploads it with the repository modules it
imports (the jobs package's train, tune and batch jobs and their training
code: ``job_code.bundle``) to ``<code_folder>/code-<digest>``: a new
folder for each version of the code, so runs never see a half-replaced one,
and an unchanged bundle (found by its entry point) is never sent again.
"""

from __future__ import annotations

import base64
import importlib.metadata

from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.service import workspace

from ..jobs import job_code
from .client import errors

# What a job run executes; its bundle holds it and the modules it imports.
CLUSTER_JOB = job_code.CLUSTER_PROGRAM
# What the job code imports beyond a Databricks ML runtime (scikit-learn, MLflow, pandas, pyarrow, psutil,
# databricks-sdk): pinned as here. datasketches: the KLL sketches of drift profiles (``--mode profile``).
CLUSTER_LIBRARIES = tuple(f"{name}=={importlib.metadata.version(name)}" for name in ("skops", "datasketches"))


def code_bundle() -> dict[str, bytes]:
    return job_code.bundle(CLUSTER_JOB)


def entry_point(client: WorkspaceClient, code_folder: str) -> str:
    """The workspace path of ``cluster_job.py``, uploading the bundle if this version is not there yet."""
    files = code_bundle()
    folder = f"{code_folder}/code-{job_code.digest(files)}"
    entry = f"{folder}/{CLUSTER_JOB.name}"
    with errors("put Atrium's job code in the workspace"):
        try:
            client.workspace.get_status(entry)
        except dberrors.NotFound:
            upload(client, folder, files, code_folder=code_folder)
    return entry


def upload(client: WorkspaceClient, folder: str, files: dict[str, bytes], *, code_folder: str) -> None:
    paths = {f"{folder}/{name}": content for name, content in files.items()}
    # the runs' experiments go in <code_folder>/training; mkdirs makes parents, once per folder is enough
    for parent in sorted({path.rsplit("/", 1)[0] for path in paths} | {f"{code_folder}/training"}):
        client.workspace.mkdirs(parent)
    for path, content in paths.items():  # in the bundle's order: the entry point last
        client.workspace.import_(
            path,
            content=base64.b64encode(content).decode(),
            format=workspace.ImportFormat.AUTO,
            overwrite=True,
        )
