"""Loaded with ``-p`` (pyproject.toml) before Django reads its settings: each
test session gets a var/ folder (database, broker, jobs) and a Celery queue of
its own, shared with the worker subprocess through the environment, so two
sessions on one machine never share state."""

import os
import re
import uuid
from pathlib import Path

TEST_ROOT = Path(__file__).resolve().parent.parent / "var" / "test"
TEST_VAR = TEST_ROOT / f"session-{os.getpid()}"

# pytest-xdist's test processes inherit the environment of the process that
# started them: what that one chose for its own session (its var/ folder, its
# queue) is chosen again here, or two sessions would share one queue and each
# worker would take the other's tasks.
SESSION_NAMES = "ATRIUM_TEST_SESSION_NAMES"
for name in filter(None, os.environ.pop(SESSION_NAMES, "").split(",")):
    os.environ.pop(name, None)
SESSION = {
    "ATRIUM_VAR_DIR": str(TEST_VAR),
    "ATRIUM_QUEUE": f"atrium-test-{uuid.uuid4().hex[:8]}",
    "ATRIUM_LOCAL_JOBS_DIR": str(TEST_VAR / "jobs"),
    "ATRIUM_DATA_ROOT": str(TEST_VAR / "data"),
}
chosen = [name for name, value in SESSION.items() if os.environ.setdefault(name, value) == value]
os.environ[SESSION_NAMES] = ",".join(chosen)
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("ATRIUM_POLL_SECONDS", "0.5")
# The test worker never reads bills on its own (apps/costs): tests ingest what they seed.
os.environ["ATRIUM_COSTS_READ_AT_START"] = "0"
# Webhooks keep the production default (not to the local network) whatever the shell or .env
# says; the tests that post to a receiver on 127.0.0.1 allow it themselves (tests/conftest.py).
os.environ["ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK"] = "0"
# A connection per request in the tests: the test database is dropped at the end, which a connection
# kept open (the Celery worker's, a browser test server's) would refuse.
os.environ["ATRIUM_DB_CONN_MAX_AGE"] = "0"
# pytest-django runs with DEBUG off, where secrets need a real key.
os.environ.setdefault("ATRIUM_ENCRYPTION_KEYS", "yPQ0bXbkBjzGbWc9GGn6bC2CyHVuvL_bYBlNQU3Jh1s=")
(TEST_VAR / "data").mkdir(parents=True, exist_ok=True)

# pytest-xdist: each test process clears the cache between tests, so each gets a
# Redis database of its own (gw0 the configured one, gw1 the next...).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    base = re.search(r"/(\d+)$", os.environ["REDIS_URL"])
    index = (int(base.group(1)) if base else 0) + int(_worker[2:])
    os.environ["REDIS_URL"] = re.sub(r"(/\d+)?$", f"/{index}", os.environ["REDIS_URL"], count=1)
