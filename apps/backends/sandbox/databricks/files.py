"""Part of the Databricks STAND-IN (not Databricks): the Files API's download
(``GET /api/2.0/fs/files/<path>``), as the backend reads back what a job run wrote to
a volume (a window's drift profile).

On Databricks the path is a Unity Catalog volume's (``/Volumes/...``), which clusters
mount and write as files. The stand-in has no volumes and its job runs are programs
on this machine writing below the connection's ``data_root`` (a folder here), so it
serves files below its ``file_roots`` (``--files-root``: ``make run`` gives the data
root), and nothing else: any other path is 404 NOT_FOUND, as a missing file is. Files
are answered whole (no ``Range``); the SDK's presigned-URL download is not offered
(its coordination call gets 404), so the SDK falls back to this call, as it does on a
workspace without it.
"""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

from .router import ApiError, route


class FilesApi:
    """Mixed into ``DatabricksStandIn``: uses its ``file_roots``."""

    file_roots: tuple[Path, ...]

    def _served_file(self, path: str) -> Path:
        wanted = Path(path).resolve()
        if any(wanted.is_relative_to(root) for root in self.file_roots) and wanted.is_file():
            return wanted
        raise ApiError(404, "NOT_FOUND", f"The file {path} does not exist.")

    @route("GET", r"^/api/2\.0/fs/files(?P<path>/.+)$")
    def _files_download(self, path, **_):
        found = self._served_file(path)
        stat = found.stat()
        return "application/octet-stream", found.read_bytes(), {"Last-Modified": formatdate(stat.st_mtime, usegmt=True)}
