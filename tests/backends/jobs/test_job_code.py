"""What is sent to the clouds: each program with exactly the modules it imports,
found from its imports; the bundle runs on its own (no repository, no Django)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from apps.backends.jobs import job_code

PACKAGES = ["apps/__init__.py", "apps/backends/__init__.py", "apps/backends/jobs/__init__.py"]
BUNDLES = {
    "cluster_job.py": [
        *PACKAGES,
        "apps/backends/errors.py",
        "apps/backends/jobs/batch_job.py",
        "apps/backends/jobs/capture_rows.py",
        "apps/backends/jobs/profile_job.py",  # --mode profile: drift profiles of an inference table
        "apps/backends/jobs/profiles/__init__.py",
        "apps/backends/jobs/profiles/categorical.py",
        "apps/backends/jobs/profiles/dataset.py",
        "apps/backends/jobs/profiles/numeric.py",
        "apps/backends/jobs/profiles/readers.py",
        "apps/backends/jobs/table_window.py",
        "apps/backends/jobs/train_job.py",
        "apps/backends/jobs/training.py",
        "apps/backends/jobs/tune_job.py",
        "cluster_job.py",
    ],
    "container_job.py": [
        *PACKAGES,
        "apps/backends/jobs/payloads.py",
        "apps/backends/jobs/training.py",
        "container_job.py",
    ],
}
PROGRAMS = {p.name: p for p in (job_code.CLUSTER_PROGRAM, job_code.CONTAINER_PROGRAM)}


@pytest.mark.parametrize("program", sorted(BUNDLES))
def test_a_bundle_holds_the_program_and_what_it_imports(program):
    files = job_code.bundle(PROGRAMS[program])
    assert sorted(files) == sorted(BUNDLES[program])
    assert list(files)[-1] == program  # the entry point goes last: once it is there, the rest is
    assert all(files.values())  # no empty content (Databricks' import refuses it)
    assert job_code.digest(files) == job_code.digest(job_code.bundle(PROGRAMS[program]))
    assert job_code.tarball(files) == job_code.tarball(dict(reversed(files.items())))  # the same bytes


CHECK = """
import importlib, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
sys.path.insert(0, str(root))
for name in sys.argv[2:]:
    importlib.import_module(name)
mine = sorted(m for m in sys.modules if m == "apps" or m.startswith("apps."))
print(json.dumps({
    "outside": [m for m in mine if not pathlib.Path(sys.modules[m].__file__).resolve().is_relative_to(root)],
    "django": "django" in sys.modules,
}))
"""


@pytest.mark.parametrize("program", sorted(BUNDLES))
def test_a_bundle_imports_on_its_own_without_django(program, tmp_path):
    for name, content in job_code.bundle(PROGRAMS[program]).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    modules = [name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in BUNDLES[program]]
    ran = subprocess.run(
        [sys.executable, "-I", "-c", CHECK, str(tmp_path.resolve()), *modules],  # -I: not the repository
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(ran.stdout) == {"outside": [], "django": False}
