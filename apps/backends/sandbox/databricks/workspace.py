"""Part of the Databricks STAND-IN (not Databricks): the Workspace API, as
Atrium's workspace provisioning and job code upload use it.

Folders (``workspace/mkdirs``, ``get-status``, ``delete`` with
``recursive``) and files (``workspace/import`` of base64 content, which job
runs then read). Paths may carry the ``/Workspace`` prefix, as on Databricks;
they are stored without it. Experiments are workspace objects too
(``get-status`` finds them, ``delete`` deletes them): see ``.mlflow``.
"""

from __future__ import annotations

import base64
import re

from databricks.sdk.service import workspace

from .router import ApiError, already_exists, invalid, not_found, route
from .state import WORKSPACE_ROOTS, now_ms


def workspace_path(value) -> str:
    """A workspace path as stored: absolute, without ``/Workspace`` or a trailing slash."""
    path = str(value or "")
    if not path.startswith("/"):
        raise invalid(f"Path ({path}) must be absolute.")
    if path == "/Workspace" or path.startswith("/Workspace/"):
        path = path[len("/Workspace") :]
    path = re.sub(r"/+", "/", path).rstrip("/") or "/"
    if any(part in (".", "..") for part in path.split("/")):
        raise invalid(f"Path ({path}) must not contain '.' or '..'.")
    return path


class WorkspaceApi:
    """Workspace folders and files. Mixed into ``DatabricksStandIn``: uses its
    state and MLflow's experiments (workspace objects too)."""

    @route("POST", r"^/api/2\.0/workspace/mkdirs$")
    def _workspace_mkdirs(self, payload, **_):
        path = workspace_path(payload.get("path"))
        prefix = ""
        for part in path.strip("/").split("/"):
            prefix = f"{prefix}/{part}"
            if self._active_experiment_named(prefix) is not None or prefix in self.state["files"]:
                raise already_exists(f"Path ({prefix}) already exists and is not a directory.")
            if prefix not in self.state["folders"]:
                self.state["folders"][prefix] = {"object_id": self._new_id(), "created_at": now_ms()}
        return {}

    @route("POST", r"^/api/2\.0/workspace/import$")
    def _workspace_import(self, payload, **_):
        # the SDK has no request dataclass for this call: its own checks, then ours
        path = workspace_path(payload.get("path"))
        try:
            workspace.ImportFormat(payload.get("format") or "SOURCE")
        except ValueError:
            raise invalid(f"Unknown format {payload.get('format')!r}.") from None
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self.state["folders"]:
            raise not_found(f"The parent folder ({parent}) does not exist.")
        if path in self.state["folders"] or (path in self.state["files"] and not payload.get("overwrite")):
            raise already_exists(f"Path ({path}) already exists.")
        try:
            content = base64.b64decode(payload.get("content") or "", validate=True)
        except ValueError:
            raise invalid("The content must be base64-encoded.") from None
        created = self.state["files"].get(path, {}).get("created_at") or now_ms()
        self.state["files"][path] = {
            "object_id": self._new_id(),
            "created_at": created,
            "modified_at": now_ms(),
            "size": len(content),
            "content": payload.get("content") or "",
        }
        return {}

    @route("GET", r"^/api/2\.0/workspace/get-status$")
    def _workspace_get_status(self, query, **_):
        path = workspace_path(query.get("path"))
        for kind, found in (
            (workspace.ObjectType.FILE, self.state["files"].get(path)),
            (workspace.ObjectType.DIRECTORY, self.state["folders"].get(path)),
        ):
            if found is not None:
                return workspace.ObjectInfo(
                    path=path,
                    object_type=kind,
                    object_id=found["object_id"],
                    resource_id=str(found["object_id"]),
                    created_at=found["created_at"],
                    modified_at=found.get("modified_at", found["created_at"]),
                    size=found.get("size"),
                ).as_dict()
        experiment = self._active_experiment_named(path)
        if experiment is not None:  # the SDK's ObjectType does not list this one
            return {
                "path": path,
                "object_type": "MLFLOW_EXPERIMENT",
                "object_id": int(experiment["experiment_id"]),
                "resource_id": experiment["experiment_id"],
            }
        raise not_found(f"Path ({path}) doesn't exist.")

    @route("POST", r"^/api/2\.0/workspace/delete$")
    def _workspace_delete(self, payload, **_):
        path = workspace_path(payload.get("path"))
        if path in WORKSPACE_ROOTS:
            raise invalid(f"Cannot delete {path}.")
        experiment = self._active_experiment_named(path)
        if experiment is not None:
            experiment.update(lifecycle_stage="deleted", last_update_time=now_ms())
            return {}
        if path in self.state["files"]:
            del self.state["files"][path]
            return {}
        if path not in self.state["folders"]:
            raise not_found(f"Path ({path}) doesn't exist.")
        inside = path + "/"
        folders = [p for p in self.state["folders"] if p.startswith(inside)]
        files = [p for p in self.state["files"] if p.startswith(inside)]
        experiments = [
            e
            for e in self.state["experiments"].values()
            if e["lifecycle_stage"] == "active" and e["name"].startswith(inside)
        ]
        if (folders or files or experiments) and not payload.get("recursive"):
            raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({path}) is not empty.")
        for folder in [*folders, path]:
            del self.state["folders"][folder]
        for file in files:
            del self.state["files"][file]
        for experiment in experiments:
            experiment.update(lifecycle_stage="deleted", last_update_time=now_ms())
        return {}
