"""Part of the Databricks STAND-IN (not Databricks): the workspace it pretends
to be (its ids, its one user) and its state: one dict of runs, endpoints,
models, schemas, workspace folders and files, experiments and usage rows, kept
in memory and, with ``state_path`` (``--state``), in a JSON file rewritten
atomically after every request, so a restarted stand-in still knows them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

WORKSPACE_ID = "1234567890123456"
DEFAULT_ACCOUNT_ID = "00000000-0000-0000-0000-000000000000"
USER = "stand-in@example.com"
WORKSPACE_ROOTS = ("/", "/Shared", "/Users")


def now_ms() -> int:
    return int(time.time() * 1000)


class StateFile:
    """The stand-in's state (``self.state``) and its file (``self.state_path``)."""

    state: dict[str, Any]
    state_path: Path | None

    def _empty_state(self) -> dict[str, Any]:
        return {
            "next_id": 1000,
            "runs": {},
            "tokens": {},
            "endpoints": {},
            "models": {},
            "usage": [],
            "inference_tables": {},  # full table name -> rows (.inference_tables)
            "schemas": {},
            "folders": {path: {"object_id": index + 1, "created_at": 0} for index, path in enumerate(WORKSPACE_ROOTS)},
            "files": {},
            "experiments": {},
        }

    def _load_state(self) -> dict[str, Any]:
        if self.state_path and self.state_path.is_file():
            return {**self._empty_state(), **json.loads(self.state_path.read_text())}
        return self._empty_state()

    def _save(self) -> None:
        if not self.state_path:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".standin-")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.state, handle)
        os.replace(tmp, self.state_path)

    def _new_id(self) -> int:
        self.state["next_id"] += 1
        return self.state["next_id"]
