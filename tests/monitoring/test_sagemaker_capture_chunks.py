"""SageMaker Data Capture in S3 is read in chunks: object by object, each object's body
streamed line by line (botocore's ``StreamingBody.iter_lines``), events handed on
``chunk_rows`` at a time. So reading a window of any size holds one chunk of events and
a line of one object, never the window: measured with tracemalloc, in a process of its own
reading over real HTTP a window of 26 MB of capture files written to the AWS stand-in
(moto's S3)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from tests.gateway import conftest as gateway
from tests.gateway.conftest import AWS_KEY, AWS_SECRET, s3_client

aws_stand_in, aws_env = gateway.aws_stand_in, gateway.aws_env  # the gateway tests' AWS stand-in

ROOT = Path(__file__).resolve().parents[2]
# Reads the window as the cloud-capture pull does (each chunk handed on, then let go) and
# prints the chunk sizes and the peak of traced memory after the first chunk (the first
# object's one-time costs: a connection, botocore's paginator). Its clients are made, and an
# empty window read, first: what a reader makes once, not per window.
READER = """
import json, sys, tracemalloc
from datetime import datetime, timedelta
from apps.backends import registry
config, secrets, name, (since, until) = json.loads(sys.argv[1])
since, until = datetime.fromisoformat(since), datetime.fromisoformat(until)
backend = registry.get_backend("sagemaker", config=config, secrets=secrets)
assert list(backend.read_capture(name, since=since - timedelta(days=2), until=since - timedelta(days=1))) == []
sizes, first_ids = [], []
tracemalloc.start()
for chunk in backend.read_capture(name, since=since, until=until, chunk_rows=500):
    sizes.append(len(chunk))
    first_ids.append(chunk[0].event_id)
    chunk = None
    if len(sizes) == 1:
        tracemalloc.reset_peak()
print(json.dumps({"sizes": sizes, "first_ids": first_ids, "peak": tracemalloc.get_traced_memory()[1]}))
"""

ROLE = "arn:aws:iam::123456789012:role/atrium-sagemaker"
FILES, LINES, ROWS_PER_REQUEST = 40, 200, 20  # 8,000 events, ~2 kB each


def capture_line(event: int, at: datetime) -> str:
    rows = [{"income": event + i / 10, "city": "Oslo", "note": "x" * 60} for i in range(ROWS_PER_REQUEST)]
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "mode": "INPUT",
                    "data": base64.b64encode(json.dumps({"dataframe_records": rows}).encode()).decode(),
                    "encoding": "BASE64",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": json.dumps({"predictions": [0] * ROWS_PER_REQUEST}),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": f"event-{event}", "inferenceTime": at.isoformat().replace("+00:00", "Z")},
            "eventVersion": "0",
        }
    )


def test_data_capture_is_read_object_by_object_in_chunks_in_bounded_memory(aws_env):
    url, name, bucket = aws_env.url, f"chunks-{uuid.uuid4().hex[:6]}", f"capture-{uuid.uuid4().hex[:6]}"
    kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": AWS_KEY}
    sm = boto3.client("sagemaker", aws_secret_access_key=AWS_SECRET, **kw)
    s3 = s3_client(url)
    s3.create_bucket(Bucket=bucket)
    sm.create_model(ModelName=f"{name}-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "sklearn:1.2"})
    variant = {"VariantName": "blue", "ModelName": f"{name}-model", "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[{**variant, "InitialInstanceCount": 1}],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{bucket}/datacapture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    written = 0
    for index in range(FILES):
        at = hour + timedelta(minutes=index)
        text = "\n".join(capture_line(index * LINES + line, at) for line in range(LINES)) + "\n"
        written += len(text)
        key = f"datacapture/{name}/blue/{at:%Y/%m/%d/%H}/{index:02d}-{uuid.uuid4().hex[:6]}.jsonl"
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    assert written > 25_000_000

    config = {"region": "us-east-1", "endpoint_url": url, "execution_role_arn": ROLE, "output_s3_uri": "s3://x/o"}
    secrets = {"access_key_id": AWS_KEY, "secret_access_key": AWS_SECRET}
    window = [hour.isoformat(), (hour + timedelta(hours=1)).isoformat()]
    child = subprocess.run(  # the reader alone in its process: nothing else's allocations counted
        [sys.executable, "-c", READER, json.dumps([config, secrets, name, window])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    measured = json.loads(child.stdout.splitlines()[-1])
    sizes, first_ids, peak = measured["sizes"], set(measured["first_ids"]), measured["peak"]
    assert sum(sizes) == FILES * LINES and max(sizes) == 500  # every event, never more than a chunk at once
    assert len(first_ids) == len(sizes)
    # a chunk of 500 events is ~1.1 MB: the reader holds about two (the one handed on, the next) and a line
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB while reading {written / 1e6:.1f} MB"
