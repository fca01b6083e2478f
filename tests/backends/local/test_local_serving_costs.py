"""What a local model server's running time costs: the server meters itself per UTC day
(serving.UsageMeter), and the backend's costs price those hours at the operator's rates,
tagged with the endpoint, after the endpoint is deleted as before."""

import json
from datetime import UTC, date, datetime

import pytest

from apps.backends.local import serving
from apps.backends.local.costs import local_costs

BEFORE_MIDNIGHT = datetime(2026, 12, 3, 23, 30, tzinfo=UTC).timestamp()


@pytest.fixture
def clock(monkeypatch):
    now = {"t": BEFORE_MIDNIGHT}
    monkeypatch.setattr(serving.time, "time", lambda: now["t"])
    return now


def endpoint(jobs_dir, name, tags):
    folder = jobs_dir / "_endpoints" / name
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"name": name, "tags": tags}))
    return folder


def test_a_servers_hours_are_split_at_midnight_and_priced_per_endpoint(tmp_path, clock, monkeypatch):
    tags = {"team": "alpha", "model": "iris", "run": "r1"}
    meter = serving.UsageMeter(endpoint(tmp_path, "scoring", tags))
    clock["t"] += 3600  # 30 min on the 3rd, 30 min on the 4th
    meter.tick()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    gpu_meter = serving.UsageMeter(endpoint(tmp_path, "vision", {"team": "alpha"}))
    clock["t"] += 1800
    meter.tick(final=True)
    gpu_meter.tick(final=True)
    (tmp_path / "_endpoints" / "scoring" / "state.json").unlink()  # deleted: its hours stay billed

    week = {"start": date(2026, 12, 1), "end": date(2026, 12, 7)}
    records = local_costs(tmp_path, **week, cpu_hour_rate=0.2, gpu_hour_rate=3.0)
    bill = {(r.day.isoformat(), r.tags["endpoint"]): (r.amount, r.service) for r in records}
    assert bill == {
        ("2026-12-03", "scoring"): (pytest.approx(0.1), "local-serving"),  # half an hour of a CPU at 0.20
        ("2026-12-04", "scoring"): (pytest.approx(0.2), "local-serving"),  # an hour
        ("2026-12-04", "vision"): (pytest.approx(3.0), "local-serving"),  # half an hour of 2 GPUs at 3.00
    }
    assert {**tags, "endpoint": "scoring"} in [r.tags for r in records]
    assert [r.tags["endpoint"] for r in local_costs(tmp_path, **week, tags={"model": "iris"})] == ["scoring"] * 2
    assert local_costs(tmp_path, start=date(2026, 12, 5), end=date(2026, 12, 7)) == []
