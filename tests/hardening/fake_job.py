"""A stand-in for a local job program (``python -m tests.hardening.fake_job
<folder>``): it takes no CPU, waits until the test drops ``release`` in its
folder, then reports success in ``status.json`` as the real jobs do."""

import json
import sys
import time
from pathlib import Path

folder = Path(sys.argv[1])
(folder / "status.json").write_text(json.dumps({"state": "running", "progress": 10}))
deadline = time.monotonic() + 120
while not (folder / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
(folder / "status.json").write_text(json.dumps({"state": "succeeded", "progress": 100}))
