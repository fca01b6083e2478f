"""Cloud capture read into the gateway's capture format, over real HTTP:
SageMaker Data Capture JSON Lines that the AWS stand-in writes on real
invocations, and a Databricks inference table that the Databricks stand-in
logs on real invocations and serves through the SQL statement execution API
(read into an S3 capture store). Event ids, variants, bodies and times come
through; a second read adds nothing; requests the gateway sent are captured
once (by the gateway). And the beat: window by window, one pull at a time."""

import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pyarrow.dataset as ds_
import pytest
import requests

from apps.backends.sandbox.aws import seed_invocations
from apps.deployments.models import Endpoint, EndpointState, Variant
from apps.gateway import cloud_capture
from apps.gateway.capture_store import LocalStore, S3Store
from apps.gateway.models import CaptureCursor

from .conftest import AWS_KEY, AWS_SECRET, DATABRICKS_TOKEN, key_for, s3_client, s3_parquet_rows

pytestmark = pytest.mark.django_db(transaction=True)

ROLE = "arn:aws:iam::123456789012:role/atrium-sagemaker"


def rows_of(root, endpoint):
    folder = root / f"endpoint={endpoint}"
    if not folder.exists():
        return []
    return ds_.dataset(str(root), format="parquet", partitioning="hive").to_table().to_pylist()


def portal_endpoint(team, connection, name, variants):
    endpoint = Endpoint.objects.create(
        team=team,
        backend=connection.kind,
        connection=connection,
        source=f"connection:{connection.pk}",
        name=name,
        state=EndpointState.IN_SERVICE,
    )
    for variant in variants:
        Variant.objects.create(endpoint=endpoint, name=variant, model_name="tiny", model_version="1")
    return endpoint


@pytest.fixture
def capture_settings(settings):
    settings.GATEWAY_CLOUD_CAPTURE_BACKFILL_HOURS = 1
    return settings


# --- SageMaker Data Capture ---------------------------------------------------------------

SM = "sm-capture"
CAPTURE_BUCKET = "atrium-sm-capture"


def sagemaker_endpoint(url):
    """An endpoint of two variants whose config captures input and output (JSON as text,
    anything else base64, as SageMaker does for content types it is not told about)."""
    kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": AWS_KEY}
    sm = boto3.client("sagemaker", aws_secret_access_key=AWS_SECRET, **kw)
    s3_client(url).create_bucket(Bucket=CAPTURE_BUCKET)
    sm.create_model(ModelName=f"{SM}-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "sklearn:1.2"})
    variants = [
        {"VariantName": v, "ModelName": f"{SM}-model", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        for v in ("blue", "green")
    ]
    sm.create_endpoint_config(
        EndpointConfigName=f"{SM}-config",
        ProductionVariants=variants,
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{CAPTURE_BUCKET}/datacapture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    sm.create_endpoint(EndpointName=SM, EndpointConfigName=f"{SM}-config")
    return boto3.client("sagemaker-runtime", aws_secret_access_key=AWS_SECRET, **kw)


def capture_files(url):
    s3 = s3_client(url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=CAPTURE_BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=CAPTURE_BUCKET, Key=key)["Body"].read().decode() for key in keys}


def test_sagemaker_data_capture_is_read_into_the_capture_format_once(
    aws_env, cloud_connection, team, ds, make_gateway, tmp_path, capture_settings
):
    url = aws_env.url
    runtime = sagemaker_endpoint(url)
    connection = cloud_connection(
        "aws-capture",
        "sagemaker",
        {"region": "us-east-1", "endpoint_url": url, "execution_role_arn": ROLE, "output_s3_uri": "s3://x/outputs"},
        {"access_key_id": AWS_KEY, "secret_access_key": AWS_SECRET},
    )
    endpoint = portal_endpoint(team, connection, SM, ["blue", "green"])
    capture_settings.GATEWAY_SENSITIVE_COLUMNS = [f"{SM}:x2"]  # masked in the cloud's rows as in the gateway's
    answers = [{"Body": json.dumps({"predictions": [i % 2]}), "ContentType": "application/json"} for i in range(4)]
    answers = [{**a, "InvokedProductionVariant": ("blue", "green")[i % 2]} for i, a in enumerate(answers)]
    answers.append({"Body": "1\n", "ContentType": "text/csv", "InvokedProductionVariant": "green"})
    forwarded = {"Body": '{"predictions": [0]}', "ContentType": "application/json", "InvokedProductionVariant": "blue"}
    answers += [forwarded] * 3
    seed_invocations(url, answers)

    started = datetime.now(UTC).replace(microsecond=0)
    for i in range(4):  # straight to SageMaker, as clients that skip the gateway do
        body = json.dumps({"dataframe_records": [{"x1": i, "x2": 0.5}]})
        runtime.invoke_endpoint(EndpointName=SM, Body=body, ContentType="application/json")
    runtime.invoke_endpoint(EndpointName=SM, Body="7,0.5\n", ContentType="text/csv")
    _, key = key_for(endpoint, ds)
    gateway = make_gateway()
    through = [gateway.post(f"/serve/{SM}/invocations", key, json={"inputs": [[9, 9]]}) for _ in range(3)]
    assert [a.status_code for a in through] == [200] * 3
    gateway.stop()
    assert aws_env.flush_capture() == 8
    ended = datetime.now(UTC)

    # What the stand-in wrote is AWS's layout and fields.
    files = capture_files(url)
    assert all(re.fullmatch(rf"datacapture/{SM}/(blue|green)/\d{{4}}/\d\d/\d\d/\d\d/[\w-]+\.jsonl", k) for k in files)
    records = [json.loads(line) for text in files.values() for line in text.splitlines()]
    assert {r["eventVersion"] for r in records} == {"0"}
    direct = {r["eventMetadata"]["eventId"]: r for r in records if "inferenceId" not in r["eventMetadata"]}
    forwarded = [r for r in records if "inferenceId" in r["eventMetadata"]]
    assert len(direct) == 5 and len(forwarded) == 3
    assert {r["eventMetadata"]["inferenceId"][:7] for r in forwarded} == {"atrium-"}
    csv = next(r for r in direct.values() if r["captureData"]["endpointInput"]["observedContentType"] == "text/csv")
    assert csv["captureData"]["endpointInput"]["encoding"] == "BASE64"

    store = LocalStore(tmp_path / "capture")  # the gateway's own capture root: both land together
    result = cloud_capture.pull(endpoint_id=str(endpoint.pk), store=store)
    assert (result.read, result.written, result.gateways, result.behind) == (8, 5, 3, False)

    rows = rows_of(store.root, SM)
    assert Counter(r["event_id"] for r in rows).most_common(1)[0][1] == 1  # every request once
    cloud = {r["event_id"]: r for r in rows if r["event_id"] in direct}
    assert set(cloud) == set(direct) and len(rows) == 8  # 5 from SageMaker, 3 from the gateway
    for event_id, row in cloud.items():
        assert started <= row["time"] <= ended
        assert row["time"] == datetime.fromisoformat(direct[event_id]["eventMetadata"]["inferenceTime"])
        assert (row["endpoint"], row["status"], row["latency_ms"]) == (SM, None, None)  # SageMaker records neither
    by_request = {row["request"]: (row["variant"], row["response"]) for row in cloud.values()}
    assert by_request == {
        '[{"x1":0,"x2":"***"}]': ("blue", "[0]"),
        '[{"x1":1,"x2":"***"}]': ("green", "[1]"),
        '[{"x1":2,"x2":"***"}]': ("blue", "[0]"),
        '[{"x1":3,"x2":"***"}]': ("green", "[1]"),
        '[{"0":7,"1":0.5}]': ("green", "[1]"),  # CSV in and out, base64 in the capture file
    }

    # Read again (the overlap, a retry): nothing new. Then only what came since.
    again = cloud_capture.pull(endpoint_id=str(endpoint.pk), store=store)
    assert (again.written, again.already) == (0, 5)
    runtime.invoke_endpoint(EndpointName=SM, Body=json.dumps({"inputs": [[5, 5]]}), ContentType="application/json")
    aws_env.flush_capture()
    later = cloud_capture.pull(endpoint_id=str(endpoint.pk), store=store)
    assert later.written == 1 and len(rows_of(store.root, SM)) == 9
    cursor = CaptureCursor.objects.get(endpoint=endpoint)
    assert (cursor.rows, cursor.error, cursor.lease_until) == (6, "", None)


# --- Databricks inference tables -------------------------------------------------------------

DBX = "dbx-capture"
TABLE = "atrium.capture.dbx_capture_payload"


def databricks_endpoint(backend, source):
    from databricks.sdk.service import serving

    versions = [backend.register_model_version("tiny", source).version for _ in range(2)]
    entities = [
        serving.ServedEntityInput(
            name=name, entity_name="atrium.capture.tiny", entity_version=version, workload_size="Small"
        )
        for name, version in zip(("blue", "green"), versions, strict=True)
    ]
    routes = [serving.Route(served_entity_name=name, traffic_percentage=50) for name in ("blue", "green")]
    backend.client.serving_endpoints.create(
        name=DBX,
        config=serving.EndpointCoreConfigInput(
            name=DBX,
            served_entities=entities,
            traffic_config=serving.TrafficConfig(routes=routes),
            auto_capture_config=serving.AutoCaptureConfigInput(
                catalog_name="atrium", schema_name="capture", table_name_prefix="dbx_capture"
            ),
        ),
    )
    for _ in range(20):
        endpoint = backend.client.serving_endpoints.get(DBX)
        if endpoint.state.ready.value == "READY":
            return endpoint
        time.sleep(0.05)
    raise AssertionError("the endpoint did not get ready")


def test_a_databricks_inference_table_is_read_into_an_s3_capture_store_once(
    databricks_stand_in,
    tiny_model_source,
    cloud_connection,
    team,
    ds,
    make_gateway,
    aws_env,
    capture_settings,
    monkeypatch,
):
    from apps.backends.databricks import capture as databricks_capture
    from apps.backends.sandbox.databricks import WAREHOUSE_ID
    from apps.connections.services import connection_backend

    url = databricks_stand_in.url
    connection = cloud_connection(
        "databricks-capture",
        "databricks",
        {"host": url, "catalog": "atrium", "schema": "capture", "warehouse_id": WAREHOUSE_ID},
        {"token": DATABRICKS_TOKEN},
    )
    described = databricks_endpoint(connection_backend(connection), tiny_model_source)
    assert described.config.auto_capture_config.state.payload_table.name == "dbx_capture_payload"
    endpoint = portal_endpoint(team, connection, DBX, ["blue", "green"])
    # Small statement pages and result chunks: the reader follows both.
    monkeypatch.setattr(databricks_capture, "PAGE_ROWS", 4)
    monkeypatch.setattr(databricks_stand_in, "statement_chunk_rows", 3)

    served = {}
    headers = {"Authorization": f"Bearer {DATABRICKS_TOKEN}"}
    for i in range(10):
        body = {"dataframe_records": [{"x1": i / 10, "x2": 0.5}], "client_request_id": f"client-{i}"}
        answer = requests.post(f"{url}/serving-endpoints/{DBX}/invocations", json=body, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        served[f'[{{"x1":{i / 10},"x2":0.5}}]'] = (answer.headers["served-model-name"], answer.json())
    bad = {"dataframe_records": [{"x1": 1}]}  # no x2: the model refuses it
    bad = requests.post(f"{url}/serving-endpoints/{DBX}/invocations", json=bad, headers=headers, timeout=30)
    assert bad.status_code == 400
    _, key = key_for(endpoint, ds)
    gateway = make_gateway()
    records = {"dataframe_records": [{"x1": 0.9, "x2": 0.5}]}
    through = [gateway.post(f"/serve/{DBX}/invocations", key, json=records) for _ in range(2)]
    assert [a.status_code for a in through] == [200] * 2, through[0].text
    gateway.stop()
    table = databricks_stand_in.state["inference_tables"][TABLE]
    forwarded = [row for row in table if (row["client_request_id"] or "").startswith("atrium-")]
    assert len(forwarded) == 2  # the gateway named them, in the body Databricks keeps the id from
    logged = {row["databricks_request_id"]: row for row in table if row not in forwarded}
    assert len(logged) == 11

    s3_client(aws_env.url).create_bucket(Bucket="atrium-dbx-store")
    store = S3Store("s3://atrium-dbx-store/capture", endpoint_url=aws_env.url)  # the store may be S3 too
    asked = len(databricks_stand_in.requests)
    result = cloud_capture.pull(endpoint_id=str(endpoint.pk), store=store)
    assert (result.read, result.written, result.gateways, result.behind) == (13, 11, 2, False)
    calls = Counter(re.sub(r"statements/[^/]+", "statements/<id>", p) for _, p in databricks_stand_in.requests[asked:])
    assert calls["/api/2.0/sql/statements"] == 4  # pages of 4 rows (13 rows)
    assert calls["/api/2.0/sql/statements/<id>/result/chunks/1"] == 3  # the 4-row pages in chunks of 3 and 1

    rows = {r["event_id"]: r for r in s3_parquet_rows(aws_env.url, "atrium-dbx-store", "capture/")}
    assert set(rows) == set(logged)  # Databricks' request ids are the event ids
    for event_id, row in rows.items():
        assert round(row["time"].timestamp() * 1000) == logged[event_id]["timestamp_ms"]
        assert row["latency_ms"] == logged[event_id]["execution_time_ms"]
    good = {r["request"]: (r["variant"], r["response"], r["status"]) for r in rows.values() if r["status"] == 200}
    assert good == {
        request: (variant, json.dumps(answer["predictions"], separators=(",", ":")), 200)
        for request, (variant, answer) in served.items()
    }
    [failed] = [r for r in rows.values() if r["status"] != 200]
    assert (failed["status"], failed["request"]) == (400, '[{"x1":1}]')
    names = {r["_key"].rsplit("/", 1)[-1] for r in rows.values()}
    assert all(re.fullmatch(r"part-databricks-\d{4}-\d\d-\d\dT\d\d-[0-9a-f]{16}\.parquet", n) for n in names)
    assert {r["_key"].split("/")[1] for r in rows.values()} == {f"endpoint={DBX}"}

    # A second pull, and the same range read again directly: nothing new.
    assert cloud_capture.pull(endpoint_id=str(endpoint.pk), store=store).written == 0
    backend = connection_backend(connection)
    window = {"since": datetime(2020, 1, 1, tzinfo=UTC), "until": datetime.now(UTC)}
    again = cloud_capture.capture_read(backend, DBX, store=store, source="databricks", **window)
    assert (again.read, again.written, again.already, again.gateways) == (13, 0, 11, 2)
    assert len(s3_parquet_rows(aws_env.url, "atrium-dbx-store", "capture/")) == 11


# --- the beat ---------------------------------------------------------------------------------


def test_the_beat_pulls_each_cloud_endpoint_window_by_window_one_pull_at_a_time(
    databricks_stand_in, cloud_connection, team, capture_settings, monkeypatch, tmp_path
):
    from django.utils import timezone

    from apps.gateway import tasks

    config = {"host": databricks_stand_in.url, "warehouse_id": "none-needed"}
    quiet = cloud_connection("dbx-quiet", "databricks", config, {"token": DATABRICKS_TOKEN})
    quiet = portal_endpoint(team, quiet, "quiet", [])  # Databricks has no such endpoint: nothing captured
    denied = cloud_connection("dbx-denied", "databricks", config, {"token": "dapi-denied"})
    denied = portal_endpoint(team, denied, "denied", [])
    Endpoint.objects.create(team=team, backend="local", source="local", name="local-one", state="in_service")
    capture_settings.GATEWAY_CLOUD_CAPTURE_BACKFILL_HOURS = 20
    capture_settings.GATEWAY_CLOUD_CAPTURE_WINDOW_HOURS = 6
    capture_settings.GATEWAY_CAPTURE_ROOT = str(tmp_path / "capture")
    queued = []
    monkeypatch.setattr(tasks.pull_endpoint_capture, "delay", queued.append)

    tasks.pull_cloud_capture()
    assert sorted(queued) == sorted([str(quiet.pk), str(denied.pk)])  # the local endpoint has no cloud capture

    # A backlog of 20 hours is read 6 hours at a time, each task asking for the next window.
    started, runs, queued[:] = timezone.now(), 0, [str(quiet.pk)]
    while queued:
        tasks.pull_endpoint_capture.apply(args=[queued.pop()]).get()
        runs += 1
    cursor = CaptureCursor.objects.get(endpoint=quiet)
    assert runs == 4 and cursor.read_until >= started and cursor.complete_at >= started
    assert (cursor.error, cursor.lease_until) == ("", None)

    # A pull in progress holds the endpoint: another one reads nothing meanwhile.
    CaptureCursor.objects.filter(endpoint=quiet).update(lease_until=timezone.now() + timedelta(hours=1))
    assert cloud_capture.pull(endpoint_id=str(quiet.pk)) is None
    assert CaptureCursor.objects.get(endpoint=quiet).read_until == cursor.read_until

    # Credentials the cloud refuses: said on the cursor (for people), the lease let go, no retry storm.
    tasks.pull_endpoint_capture.apply(args=[str(denied.pk)]).get()
    refused = CaptureCursor.objects.get(endpoint=denied)
    assert "access denied" in refused.error and refused.lease_until is None and refused.read_until is None
