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


def test_a_request_id_is_spliced_into_a_json_object_and_a_callers_own_is_kept():
    def spliced(body):
        return payloads.with_request_id(body, "client_request_id", "atrium-1")

    sent = spliced(b'  {"dataframe_records": [{"x": 1}]}')
    assert json.loads(sent) == {"client_request_id": "atrium-1", "dataframe_records": [{"x": 1}]}
    assert json.loads(spliced(b"{ }")) == {"client_request_id": "atrium-1"}
    assert spliced(b'[{"x": 1}]') == b'[{"x": 1}]'  # not an object: nowhere to put it
    own = b'{"inputs": [[1]], "client_request_id": "mine"}'
    assert spliced(own) == own


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


class FlakyStore:
    """A capture store (in memory) whose first ``failures`` puts fail, as S3 does when it is away."""

    uri = "memory://"

    def __init__(self, failures):
        self.failures = failures
        self.files = {}

    def put(self, endpoint, day, name, table):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("S3 is away")
        self.files[(endpoint, day, name)] = table

    def rows(self):
        return [row for table in self.files.values() for row in table.to_pylist()]


def captured(i, endpoint="ep", at=1.7e9):
    return Captured(f"e{i}", at, endpoint, "a", 200, 1.0, b'{"inputs": [1]}', b'{"predictions": [1]}')


def test_a_failed_write_is_tried_again_without_writing_a_row_twice():
    # Two endpoints in one batch: the first group is written, the second fails once.
    store = FlakyStore(failures=0)
    writer = CaptureWriter(store, max_rows=3)
    original = store.put
    calls = []

    def second_put_fails_once(endpoint, day, name, table):
        calls.append(endpoint)
        if len(calls) == 2:
            raise ConnectionError("S3 is away")
        original(endpoint, day, name, table)

    store.put = second_put_fails_once
    for i in range(3):
        writer.offer(captured(i, endpoint="one" if i < 2 else "two"))
    assert writer.flush() == 0 and writer.written == 2  # "one" written, "two" waits for the next drain
    # the row waiting counts against max_rows
    assert [writer.offer(captured(i)) for i in (7, 8, 9)] == [True, True, False]
    writer.flush()
    assert sorted(r["event_id"] for r in store.rows()) == ["e0", "e1", "e2", "e7", "e8"]
    assert writer.failed == 0


def test_rows_that_keep_failing_count_as_failed_and_hold_their_place_in_memory_until_then():
    store = FlakyStore(failures=100)
    writer = CaptureWriter(store, max_rows=3)
    assert [writer.offer(captured(i)) for i in range(3)] == [True, True, True]
    writer.flush()  # fails: the three wait to be tried again
    assert writer.offer(captured(3)) is False and writer.dropped == 1  # memory stays bounded meanwhile
    writer.flush()
    writer.flush()  # the third failed attempt gives up on them
    assert writer.failed == 3 and writer.written == 0 and writer.offer(captured(4)) is True
