"""The code a cloud job runs, sent with the job so a real account needs nothing
installed by hand: Atrium's job program for that cloud (``cluster_job.py`` for
Databricks: workspace files; ``container_job.py`` for SageMaker: a source
tarball in S3) and exactly the modules of this repository it imports, found by
reading its imports (and theirs) rather than listed by hand, so the bundle
cannot drift from the code. Each version of the code goes to a place named by
its digest, so a job never sees a half-replaced bundle and an unchanged one is
sent once.

Portal side: the programs never import this module, and it is not in a bundle.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import tarfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]
PACKAGE = "apps"  # the imports that are this repository's (the rest: the Python the job runs with)
CLUSTER_PROGRAM = Path(__file__).with_name("cluster_job.py")
CONTAINER_PROGRAM = Path(__file__).with_name("container_job.py")


def imported_modules(program: Path) -> tuple[str, ...]:
    """The repository's files ``program`` imports, directly or through each other, with the
    ``__init__.py`` of every package on the way, as paths below the repository (sorted)."""
    found: set[Path] = set()
    pending = [program.resolve()]
    while pending:
        for module in _imports(pending.pop()):
            path = _file_of(module)
            if path not in found:
                found.add(path)
                pending.append(path)
    root = REPOSITORY / PACKAGE
    packages = {parent / "__init__.py" for path in found for parent in path.parents if parent.is_relative_to(root)}
    return tuple(sorted(str(path.relative_to(REPOSITORY)) for path in found | packages))


def _imports(path: Path) -> set[str]:
    """The dotted names of the repository's modules that ``path`` imports (lazily too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise ValueError(f"{path.name}: a job module imports absolutely (it may run as a script).")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule, if it is one
    return {name for name in names if name.split(".")[0] == PACKAGE and _file_of(name, strict=False)}


def _file_of(module: str, *, strict: bool = True) -> Path | None:
    base = REPOSITORY.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    if strict:
        raise ValueError(f"No module {module} in the repository.")
    return None


def bundle(program: Path) -> dict[str, bytes]:
    """The files by path in the program's bundle: the modules it imports (paths below the
    repository), then the program at the top (last, so once it is in place the rest is too).
    An empty file gets a blank line: Databricks' workspace import takes no empty content."""
    files = {name: (REPOSITORY / name).read_bytes() or b"\n" for name in imported_modules(program)}
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
