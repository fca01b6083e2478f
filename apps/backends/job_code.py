"""The code a cloud job runs, sent with the job so a real account needs nothing
installed by hand: Atrium's job program for that cloud and the modules of this
repository it imports (Databricks: workspace files; SageMaker: a source
tarball in S3). Each version of the code goes to a place named by its digest,
so a job never sees a half-replaced bundle and an unchanged one is sent once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
# The dataset loading, estimators and metrics every backend trains with.
TRAINING_MODULES = ("apps/__init__.py", "apps/backends/__init__.py", "apps/backends/training.py")


def bundle(program: Path, modules: tuple[str, ...]) -> dict[str, bytes]:
    """The files by path in the bundle: ``modules`` (paths below the repository),
    then the program at the top (last, so once it is in place the rest is too).
    An empty file gets a blank line: Databricks' workspace import takes no empty content."""
    files = {name: (REPOSITORY / name).read_bytes() or b"\n" for name in modules}
    files[program.name] = program.read_bytes()
    return files


def digest(files: dict[str, bytes]) -> str:
    hashed = hashlib.sha256()
    for name, content in files.items():
        hashed.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return hashed.hexdigest()[:16]


def tarball(files: dict[str, bytes]) -> bytes:
    """A .tar.gz of the files, the same bytes for the same files (no times, owners or modes of this machine)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)
