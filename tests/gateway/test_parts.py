"""The gateway's parts on their own: the variant pick, the token buckets, CSV,
and the capture writer's bounds (drops and counts when full, never blocks)."""

import asyncio
import json
import random

import pyarrow.parquet as pq

from apps.deployments.selectors import Route
from apps.gateway import payloads
from apps.gateway.capture import Captured, CaptureWriter
from apps.gateway.limits import TokenBuckets
from apps.gateway.routing import pick_variant


def route(weights, variants=("a", "b")):
    return Route("id", "ep", 1, "local", None, "in_service", weights, variants)


def test_variants_are_picked_by_weight_and_stick_on_a_value():
    rng = random.Random(7)
    assert {pick_variant(route({"a": 0, "b": 100}), rng=rng) for _ in range(100)} == {"b"}
    picks = [pick_variant(route({"a": 90, "b": 10}), rng=rng) for _ in range(2000)]
    assert 120 <= picks.count("b") <= 280
    assert len({pick_variant(route({"a": 50, "b": 50}), "user-42") for _ in range(20)}) == 1
    assert pick_variant(route({}, variants=("only",))) == "only"
    assert pick_variant(route({})) is None  # the backend's own split


def test_token_buckets_allow_the_rate_then_say_when_to_retry():
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])

    def take(key):
        return asyncio.run(buckets.take(key, 3))

    assert [take("k")[0] for _ in range(4)] == [True, True, True, False]
    assert take("k") == (False, 20)  # 3 a minute: one every 20 s
    now[0] += 20
    assert take("k") == (True, 0)
    assert take("other") == (True, 0)  # per key


def test_csv_becomes_a_dataframe_split():
    body = payloads.csv_as_json(b"a,b,name\n1,2.5,x\n3,,y\n", "text/csv")
    assert json.loads(body) == {
        "dataframe_split": {"columns": ["a", "b", "name"], "data": [[1, 2.5, "x"], [3, None, "y"]]}
    }
    headless = payloads.csv_as_json(b"1,2\n", "text/csv; header=absent")
    assert json.loads(headless) == {"dataframe_split": {"data": [[1, 2]]}}


def test_a_full_capture_buffer_drops_and_counts_and_close_writes_the_rest(tmp_path):
    writer = CaptureWriter(tmp_path, max_rows=3, sensitive=lambda endpoint: frozenset({"ssn"}))
    body = json.dumps({"dataframe_split": {"columns": ["ssn", "age"], "data": [["123", 40]]}}).encode()
    taken = [
        writer.offer(Captured(f"e{i}", 1.7e9, "ep", "a", 200, 1.0, body, b'{"predictions": [1]}')) for i in range(5)
    ]
    assert taken == [True, True, True, False, False] and writer.dropped == 2
    writer.close()  # no thread started: close writes what was accepted
    [part] = list(tmp_path.rglob("part-*.parquet"))
    assert part.parent.name == "date=2023-11-14" and part.parent.parent.name == "endpoint=ep"
    table = pq.read_table(part).to_pylist()
    assert [r["event_id"] for r in table] == ["e0", "e1", "e2"]
    assert json.loads(table[0]["request"]) == [{"ssn": "***", "age": 40}]
    assert table[0]["response"] == "[1]"
