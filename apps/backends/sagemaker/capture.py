"""What SageMaker Data Capture recorded of an endpoint's traffic.

Where: the endpoint's ``DataCaptureConfig.DestinationS3Uri`` (DescribeEndpoint,
else its endpoint config), under ``<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl``:
the variant comes from the path, and the hour folders bound what is listed.
What: one JSON object a line, ``captureData.endpointInput`` / ``endpointOutput``
(``data`` is text or base64 by its ``encoding``: JSON, CSV or BASE64, read by
its ``observedContentType``), ``eventMetadata.eventId`` (the event's id),
``inferenceTime`` and ``inferenceId`` (the caller's id for the request, when it
gave one). Data Capture records neither the status nor the latency.

Files are streamed line by line and events handed on in chunks, so a window
of any size is read in bounded memory.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from ..base import CapturedEvent
from .client import AwsClients, aws, error_code


def capture_prefix(sm, endpoint: str) -> str | None:
    """``s3://bucket/prefix`` the endpoint captures to, or None when it captures nothing."""
    from botocore.exceptions import ClientError

    try:
        described = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        if error_code(exc) == "ValidationException" and "Could not find" in str(exc):
            return None
        raise
    capture = described.get("DataCaptureConfig") or {}
    if not capture.get("DestinationS3Uri"):
        endpoint_config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        capture = endpoint_config.get("DataCaptureConfig") or {}
    if not capture.get("DestinationS3Uri") or capture.get("EnableCapture") is False:
        return None
    return capture["DestinationS3Uri"].rstrip("/")


def _hour_of(key: str) -> datetime | None:
    """The hour folder of ``.../yyyy/mm/dd/hh/<file>.jsonl``."""
    parts = key.split("/")
    try:
        return datetime(*(int(p) for p in parts[-5:-1]), tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _data(part: dict | None) -> tuple[bytes, str]:
    if not part:
        return b"", ""
    data = part.get("data") or ""
    raw = base64.b64decode(data) if part.get("encoding") == "BASE64" else data.encode("utf-8")
    return raw, part.get("observedContentType") or ""


def event_of(record: dict, variant: str) -> CapturedEvent | None:
    """One line of a capture file as an event (None for a line that is not one)."""
    metadata = record.get("eventMetadata") or {}
    capture = record.get("captureData") or {}
    try:
        at = datetime.fromisoformat(metadata["inferenceTime"]).timestamp()
        event_id = str(metadata["eventId"])
    except (KeyError, TypeError, ValueError):
        return None
    request, request_type = _data(capture.get("endpointInput"))
    response, response_type = _data(capture.get("endpointOutput"))
    return CapturedEvent(
        event_id=event_id,
        at=at,
        variant=variant,
        request=request,
        request_type=request_type,
        response=response,
        response_type=response_type,
        client_id=str(metadata.get("inferenceId") or ""),
    )


def _variant_files(s3, bucket: str, folder: str, first_hour: datetime, until: datetime, modified_after):
    """The capture files of one variant's folder from ``first_hour`` on, up to ``until``."""
    listing = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=folder, StartAfter=f"{folder}{first_hour:%Y/%m/%d/%H}"
    )
    for listed in listing:
        for item in listed.get("Contents", []):
            hour = _hour_of(item["Key"])
            if hour is None or not item["Key"].endswith(".jsonl") or hour < first_hour:
                continue
            if hour >= until:
                return  # keys sort by hour: the rest are later
            if modified_after is None or item["LastModified"] > modified_after:
                yield item["Key"]


def _files(s3, bucket: str, base: str, since: datetime, until: datetime, modified_after: datetime | None):
    """(key, variant) of the capture files whose hour folder overlaps [since, until)."""
    first_hour = since.replace(minute=0, second=0, microsecond=0)
    variants = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base, Delimiter="/")
    for page in variants:
        for common in page.get("CommonPrefixes", []):
            folder = common["Prefix"]  # <base><variant>/
            variant = folder[len(base) :].rstrip("/")
            for key in _variant_files(s3, bucket, folder, first_hour, until, modified_after):
                yield key, variant


def read_capture(
    clients: AwsClients,
    endpoint: str,
    *,
    since: datetime,
    until: datetime,
    modified_after: datetime | None = None,
    chunk_rows: int = 5000,
) -> Iterator[list[CapturedEvent]]:
    with aws(f"Read the Data Capture of endpoint {endpoint}"):
        prefix = capture_prefix(clients.client("sagemaker"), endpoint)
    if prefix is None:
        return
    bucket, _, root = prefix.removeprefix("s3://").partition("/")
    base = f"{root}/{endpoint}/" if root else f"{endpoint}/"
    s3 = clients.client("s3")
    low, high = since.timestamp(), until.timestamp()
    chunk: list[CapturedEvent] = []
    with aws(f"Read the Data Capture of endpoint {endpoint} in {prefix}"):
        # An event may be written into the file of the hour after its own: list an hour more.
        for key, variant in _files(s3, bucket, base, since, until + timedelta(hours=1), modified_after):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            for line in body.iter_lines():
                try:
                    event = event_of(json.loads(line), variant) if line.strip() else None
                except ValueError:
                    event = None
                if event is None or not low <= event.at < high:
                    continue
                chunk.append(event)
                if len(chunk) >= chunk_rows:
                    yield chunk
                    chunk = []
    if chunk:
        yield chunk
