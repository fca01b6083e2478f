"""The gateway for real: a local model server, the gateway on uvicorn, httpx
clients. Keys refused before anything is forwarded, MLflow's scoring formats
and CSV, the traffic split, telemetry counted exactly, capture of every
acknowledged request exactly once without the response waiting for it."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pyarrow.dataset as ds_
import pytest

from apps.deployments.models import Endpoint, EndpointMinute
from apps.gateway.services import api_key_revoke

from .conftest import key_for, settle

pytestmark = pytest.mark.worker

RECORDS = {"dataframe_records": [{"x1": 0.0, "x2": 0.1}, {"x1": 1.0, "x2": 1.0}]}
PATH = "/serve/tiny/invocations"


def minutes(endpoint):
    return {m.variant: m for m in EndpointMinute.objects.filter(endpoint=endpoint)}


def captured_rows(gateway):
    root = gateway.gateway.capture.root
    if not root.exists():
        return []
    return ds_.dataset(str(root), format="parquet", partitioning="hive").to_table().to_pylist()


def test_refused_requests_are_never_forwarded(served, endpoint, ds, team, make_gateway):
    other = Endpoint.objects.create(team=team, backend="local", source="local", name="other", state="in_service")
    _, other_key = key_for(other, ds)
    revoked, revoked_key = key_for(endpoint, ds)
    _, limited_key = key_for(endpoint, ds, rate_limit_per_minute=2)
    api_key_revoke(user=ds, endpoint=endpoint, key_id=revoked.pk)
    gateway = make_gateway()

    missing = gateway.post(PATH, json=RECORDS)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert gateway.post(PATH, "atk_not-a-key", json=RECORDS).status_code == 401
    assert gateway.post(PATH, json=RECORDS, headers={"Authorization": "Token x"}).status_code == 401
    answer = gateway.post(PATH, revoked_key, json=RECORDS)
    assert answer.status_code == 401 and "revoked" in answer.json()["message"]
    assert gateway.post(PATH, other_key, json=RECORDS).status_code == 403
    assert gateway.post("/serve/nope/invocations", other_key, json=RECORDS).status_code == 404

    assert [gateway.post(PATH, limited_key, json=RECORDS).status_code for _ in range(2)] == [200, 200]
    over = gateway.post(PATH, limited_key, json=RECORDS)
    assert over.status_code == 429 and 1 <= int(over.headers["Retry-After"]) <= 30

    gateway.stop()  # flushes telemetry and capture
    counted = minutes(endpoint)
    assert counted["b"].requests == 2  # only the two allowed ones reached the model
    assert counted[""].requests == counted[""].client_errors == 6  # the refusals (not the 404), on no variant
    assert not minutes(other)
    assert len(captured_rows(gateway)) == 2


def test_a_key_revoked_while_in_use_is_refused_within_the_cache_time(served, endpoint, ds, make_gateway):
    key, clear = key_for(endpoint, ds)
    gateway = make_gateway()
    assert gateway.post(PATH, clear, json=RECORDS).status_code == 200
    api_key_revoke(user=ds, endpoint=endpoint, key_id=key.pk)
    settle()
    assert gateway.post(PATH, clear, json=RECORDS).status_code == 401


def test_every_scoring_format_and_csv_get_the_models_predictions(served, endpoint, ds, make_gateway):
    _, key = key_for(endpoint, ds)
    gateway = make_gateway()
    bodies = [
        {"json": RECORDS},
        {"json": {"dataframe_split": {"columns": ["x1", "x2"], "data": [[0.0, 0.1], [1.0, 1.0]]}}},
        {"json": {"instances": [{"x1": 0.0, "x2": 0.1}, {"x1": 1.0, "x2": 1.0}]}},
        {"json": {"inputs": {"x1": [0.0, 1.0], "x2": [0.1, 1.0]}}},
        {"content": b"x1,x2\n0.0,0.1\n1.0,1.0\n", "headers": {"Content-Type": "text/csv"}},
    ]
    for body in bodies:
        answer = gateway.post(PATH, key, **body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [0, 1], body
        assert answer.headers["X-Atrium-Event-Id"]

    bad = gateway.post(PATH, key, json={"rows": [1]})  # the model server's 400, passed through
    assert bad.status_code == 400 and bad.json()["message"]
    xml = gateway.post(PATH, key, content=b"<x/>", headers={"Content-Type": "application/xml"})
    assert xml.status_code == 415


def test_traffic_follows_the_weights_and_sticks_on_a_header(served, endpoint, ds, make_gateway):
    _, key = key_for(endpoint, ds)
    gateway = make_gateway()
    answers = [gateway.post(PATH, key, json=RECORDS) for _ in range(20)]
    assert {a.headers["X-Atrium-Variant"] for a in answers} == {"b"}  # weights a: 0, b: 100
    assert {a.json()["variant"] for a in answers} == {"b"}  # the model server says who answered

    Endpoint.objects.filter(pk=endpoint.pk).update(weights={"a": 50, "b": 50})
    settle()
    spread = Counter(gateway.post(PATH, key, json=RECORDS).json()["variant"] for _ in range(40))
    assert spread["a"] >= 5 and spread["b"] >= 5, spread
    for user in ("alice", "bob", "carol"):
        sticky = {
            gateway.post(PATH, key, json=RECORDS, headers={"X-Atrium-Sticky": user}).json()["variant"] for _ in range(8)
        }
        assert len(sticky) == 1, (user, sticky)


def test_telemetry_counts_every_request_once(served, endpoint, ds, make_gateway):
    _, key = key_for(endpoint, ds)
    gateway = make_gateway()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: gateway.post(PATH, key, json=RECORDS).status_code, range(60)))
    assert statuses == [200] * 60
    gateway.stop()
    row = minutes(endpoint)["b"] if len(minutes(endpoint)) == 1 else None
    counted = EndpointMinute.objects.filter(endpoint=endpoint, variant="b")
    assert sum(m.requests for m in counted) == 60, row
    assert sum(m.errors + m.client_errors for m in counted) == 0
    assert all(m.bytes_in > 0 and m.bytes_out > 0 and m.model_latency_ms_sum > 0 for m in counted)
    assert sum(m.latency_ms_sum for m in counted) >= sum(m.model_latency_ms_sum for m in counted)


def test_capture_keeps_every_acknowledged_request_once_and_answers_before_writing(
    served, endpoint, ds, make_gateway, monkeypatch
):
    _, key = key_for(endpoint, ds)
    gateway = make_gateway(sensitive_columns=["tiny:x2"])
    writer = gateway.gateway.capture
    release = threading.Event()
    original = writer._write

    def held(batch):  # the disk is stuck until released
        release.wait(30)
        return original(batch)

    monkeypatch.setattr(writer, "_write", held)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: gateway.post(PATH, key, json=RECORDS), range(200)))
    acknowledged = {a.headers["X-Atrium-Event-Id"] for a in answers if a.status_code == 200}
    assert len(acknowledged) == 200
    assert writer.written == 0  # every answer came back while nothing could be written
    release.set()
    gateway.stop()  # writes what was accepted

    rows = captured_rows(gateway)
    assert Counter(r["event_id"] for r in rows) == Counter(acknowledged)  # each exactly once
    assert writer.dropped == 0
    row = rows[0]
    assert (row["endpoint"], row["variant"], row["status"]) == ("tiny", "b", 200)
    assert row["request"] == '[{"x1":0.0,"x2":"***"},{"x1":1.0,"x2":"***"}]'  # x2 is masked
    assert row["response"] == "[0,1]"
    folders = {p.parent.relative_to(writer.root).parts[0] for p in writer.root.rglob("*.parquet")}
    assert folders == {"endpoint=tiny"}
