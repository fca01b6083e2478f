"""Loaded with ``-p`` (pyproject.toml) before Django reads its settings: the
test run gets a var/ folder and a Celery queue of its own, shared with the
worker subprocess through the environment."""

import os
import uuid
from pathlib import Path

TEST_VAR = Path(__file__).resolve().parent.parent / "var" / "test"

os.environ.setdefault("ATRIUM_VAR_DIR", str(TEST_VAR))
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("ATRIUM_QUEUE", f"atrium-test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("ATRIUM_POLL_SECONDS", "1")
os.environ.setdefault("ATRIUM_LOCAL_JOBS_DIR", str(TEST_VAR / "jobs"))
os.environ.setdefault("ATRIUM_DATA_ROOT", str(TEST_VAR / "data"))
(TEST_VAR / "data").mkdir(parents=True, exist_ok=True)
# pytest-django runs with DEBUG off, where secrets need a real key.
os.environ.setdefault("ATRIUM_ENCRYPTION_KEYS", "yPQ0bXbkBjzGbWc9GGn6bC2CyHVuvL_bYBlNQU3Jh1s=")
