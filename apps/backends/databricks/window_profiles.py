"""Profiling a window of an endpoint's inference table where it lives: a job run of
``cluster_job.py --mode profile`` (``jobs/profile_job.py``), the same program, upload
and job-run path as training, so a real workspace needs nothing installed by hand.

The run reads the table on its cluster (Spark; the SQL warehouse without one), writes
the merged profile below the connection's ``data_root`` (a Unity Catalog volume,
``/Volumes/<catalog>/<schema>/atrium`` by default) as
``monitoring/profiles/<key>.profile``, and the backend downloads it with the Files API
(``client.files.download``). Polling is the job runs' own (``jobs.poll``). An endpoint
that logs to no inference table has nothing to profile there: nothing is submitted.
"""

from __future__ import annotations

import re
from dataclasses import asdict

from ..base import BackendError, JobStatus, WindowSpec
from .capture import payload_table
from .client import errors
from .endpoints import get_detailed

PROFILE_FOLDER = "monitoring/profiles"


def profile_path(data_root: str, key: str) -> str:
    """Where the run of ``key`` writes its profile: named by the key, so a retried run overwrites it."""
    return f"{data_root.rstrip('/')}/{PROFILE_FOLDER}/{re.sub(r'[^A-Za-z0-9._-]', '-', key)}.profile"


def payload(client, spec: WindowSpec, *, data_root: str, warehouse_id: str | None) -> dict | None:
    """What the program is given, or None when the endpoint logs to no inference table."""
    endpoint = get_detailed(client, spec.endpoint, missing_ok=True)
    table = payload_table(endpoint) if endpoint is not None else None
    if table is None:
        return None
    return {
        "table": table,
        "endpoint": spec.endpoint,
        "since_ms": int(spec.since.timestamp() * 1000),
        "until_ms": int(spec.until.timestamp() * 1000),
        "sensitive": sorted(spec.sensitive),
        "output": profile_path(data_root, spec.key),
        "warehouse_id": warehouse_id or "",
        "key": spec.key,
        "tags": asdict(spec)["tags"],
    }


def read(client, status: JobStatus, *, data_root: str) -> bytes:
    """The profile a succeeded run wrote (only below the connection's data root)."""
    path = str(status.outputs.get("profile_path") or "")
    if not path.startswith(f"{data_root.rstrip('/')}/{PROFILE_FOLDER}/"):
        raise BackendError(f"The profiling run reported no profile where it writes them ({path or 'none'}).")
    with errors(f"read the window's profile {path}"):
        return client.files.download(path).contents.read()
