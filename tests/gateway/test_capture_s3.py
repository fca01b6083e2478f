"""Capture to an S3 prefix (GATEWAY_CAPTURE_ROOT=s3://bucket/prefix) against
moto's server: under concurrent load every acknowledged request is captured
exactly once, in the same endpoint/date layout as on disk, and no answer
waits for S3."""

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import key_for, s3_client, s3_parquet_rows

pytestmark = pytest.mark.worker

RECORDS = {"dataframe_records": [{"x1": 0.0, "x2": 0.1}, {"x1": 1.0, "x2": 1.0}]}
PATH = "/serve/tiny/invocations"
BUCKET = "atrium-capture-tests"


def test_capture_to_s3_under_load_matches_the_acknowledged_requests(
    served, endpoint, ds, make_gateway, aws_env, monkeypatch
):
    s3_client(aws_env.url).create_bucket(Bucket=BUCKET)
    _, key = key_for(endpoint, ds)
    gateway = make_gateway(capture_root=f"s3://{BUCKET}/gateway", capture_s3_endpoint_url=aws_env.url)
    writer = gateway.gateway.capture
    release = threading.Event()
    original = writer.store.put

    def slow_s3(*args):  # S3 holds every put until released
        release.wait(30)
        return original(*args)

    monkeypatch.setattr(writer.store, "put", slow_s3)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: gateway.post(PATH, key, json=RECORDS), range(300)))
    acknowledged = {a.headers["X-Atrium-Event-Id"] for a in answers if a.status_code == 200}
    assert len(acknowledged) == 300
    assert writer.written == 0  # every answer came back while nothing could reach S3
    release.set()
    gateway.stop()  # writes what was accepted

    rows = s3_parquet_rows(aws_env.url, BUCKET, "gateway/")
    assert Counter(r["event_id"] for r in rows) == Counter(acknowledged)  # each exactly once
    assert writer.dropped == writer.failed == 0
    assert {r["_key"].rsplit("/", 1)[0] for r in rows} == {f"gateway/endpoint=tiny/date={rows[0]['time']:%Y-%m-%d}"}
    assert (rows[0]["endpoint"], rows[0]["variant"], rows[0]["status"]) == ("tiny", "b", 200)
    assert rows[0]["request"] == '[{"x1":0.0,"x2":0.1},{"x1":1.0,"x2":1.0}]'


def test_a_capture_files_footer_is_read_from_s3_by_its_tail_alone(aws_env):
    """What a capture-volume monitor counts: the listing (with each file's time) and the
    footer's request and input-row counts, from a ranged GET of the file's tail."""
    import time

    from apps.gateway.capture import Captured, capture_table
    from apps.gateway.capture_store import open_store

    s3_client(aws_env.url).create_bucket(Bucket=BUCKET + "-footer")
    store = open_store(f"s3://{BUCKET}-footer/capture", endpoint_url=aws_env.url, region="us-east-1")
    rows = [
        Captured(f"e{i}", time.time() + i, "tiny", "a", 200, 1.0, json.dumps(RECORDS).encode(), b"[0]")
        for i in range(7)
    ]
    store.put("tiny", "2026-12-04", "part-1.parquet", capture_table("tiny", rows))
    ((name, modified),) = store.listing("tiny", "2026-12-04")
    assert name == "part-1.parquet" and abs(modified - time.time()) < 120
    footer = store.footer("tiny", "2026-12-04", name)
    assert footer.num_rows == 7 and footer.metadata[b"atrium.input_rows"] == b"14"  # 2 input rows a request
