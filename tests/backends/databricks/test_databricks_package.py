"""The Databricks adapter's shape: a facade over modules by concern, none of
which imports the facade; the names other code imports from the facade stay
there; settings are read in ``settings.py`` only."""

from __future__ import annotations

import ast
from pathlib import Path

from apps.backends.databricks import backend, code_upload, jobs, provisioning
from apps.backends.jobs import cluster_job

PACKAGE = Path(backend.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names |= {f"{module}.{a.name}" if node.level else module for a in node.names} | {module}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def test_no_module_imports_the_facade_and_none_is_large():
    for path in MODULES:
        if path.name != "backend.py":
            assert not {n for n in imported(path) if n == "backend" or n.endswith(".backend")}, path.name
        assert len(path.read_text().splitlines()) <= 500, path.name


def test_the_names_others_import_from_the_facade_are_still_there():
    # the stand-in (apps/backends/sandbox) reads job runs' outputs with these
    assert backend.job_outputs is jobs.job_outputs
    assert backend.OUTPUTS_MARKER == cluster_job.OUTPUTS_MARKER
    assert (backend.CLUSTER_JOB, backend.code_bundle) == (code_upload.CLUSTER_JOB, code_upload.code_bundle)
    assert backend.KEY_TAG == provisioning.KEY_TAG
    assert all(hasattr(backend, name) for name in backend.__all__)


def reads_of_a_connection(tree: ast.AST) -> list[str]:
    """``config[...]``, ``config.get(...)`` and the same of ``secrets``: reading a connection's dicts."""
    found = []
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Subscript):
            target = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            target = node.func.value
        if isinstance(target, ast.Name) and target.id in {"config", "secrets"}:
            found.append(ast.unparse(node))
    return found


def test_connection_settings_are_read_in_settings_py_only():
    for path in MODULES:
        if path.name != "settings.py":
            assert reads_of_a_connection(ast.parse(path.read_text())) == [], path.name
    assert "settings.from_connection(config, secrets)" in (PACKAGE / "backend.py").read_text()
