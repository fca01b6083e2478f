"""Part of the AWS STAND-IN (moto, not AWS): SageMaker Data Capture.

What it adds to moto, and why: moto keeps an endpoint config's
``DataCaptureConfig`` but captures nothing, and Atrium reads what real
endpoints capture into its own capture format. Here an InvokeEndpoint that
succeeds on an endpoint whose current config enables capture is recorded as
AWS records it, sampled by ``InitialSamplingPercentage``: JSON Lines in
(moto's) S3 under

    <DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl

one event a line: ``captureData.endpointInput`` / ``endpointOutput``
(``observedContentType``, ``mode`` INPUT / OUTPUT, ``data``, ``encoding``),
each as ``CaptureOptions`` ask (Input, Output or both), ``eventMetadata``
(``eventId``, ``inferenceTime``; ``inferenceId`` when the caller sent
``X-Amzn-SageMaker-Inference-Id``, ``customAttributes`` when it sent some) and
``eventVersion`` "0". The data is text, encoding ``JSON`` or ``CSV``, when its
content type is one of ``CaptureContentTypeHeader``'s JsonContentTypes /
CsvContentTypes, and ``BASE64`` otherwise (AWS's rule, which base64-encodes
everything when no content types are configured).

AWS writes a capture file every few minutes, not a file per request: events
wait in memory per endpoint and variant and are written after
``settings["flush_seconds"]`` or ``settings["flush_records"]`` events, and
whenever ``flush()`` is called (tests; the stand-in's stop).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote

log = logging.getLogger(__name__)

settings = {"flush_seconds": 5.0, "flush_records": 1000}
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
MODES = {
    "Input": ("endpointInput",),
    "Output": ("endpointOutput",),
    "InputAndOutput": ("endpointInput", "endpointOutput"),
}

_lock = threading.Lock()
_waiting: dict[tuple[str, str], list[tuple[datetime, str]]] = {}  # (account, hour folder) -> events
_first: dict[tuple[str, str], float] = {}  # when the oldest waiting event of a folder came
_flusher: threading.Thread | None = None


def _encoded(data: bytes, content_type: str, header: dict) -> tuple[str, str]:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in {t.lower() for t in header.get("JsonContentTypes") or []}:
        return data.decode("utf-8", errors="replace"), "JSON"
    if kind in {t.lower() for t in header.get("CsvContentTypes") or []}:
        return data.decode("utf-8", errors="replace"), "CSV"
    return base64.b64encode(data).decode(), "BASE64"


def capture_record(
    config: dict, request: bytes, request_type: str, answer: bytes, answer_type: str, headers, at: datetime
) -> str:
    """One event as a line of a capture file."""
    header = config.get("CaptureContentTypeHeader") or {}
    capture: dict = {}
    for option in config.get("CaptureOptions") or [{"CaptureMode": "InputAndOutput"}]:
        for part in MODES.get(option.get("CaptureMode"), ()):
            data, observed, mode = (
                (request, request_type, "INPUT") if part == "endpointInput" else (answer, answer_type, "OUTPUT")
            )
            text, encoding = _encoded(data, observed, header)
            capture[part] = {"observedContentType": observed, "mode": mode, "data": text, "encoding": encoding}
    metadata = {"eventId": str(uuid.uuid4()), "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if headers.get(INFERENCE_ID_HEADER):
        metadata["inferenceId"] = headers[INFERENCE_ID_HEADER]
    if headers.get(CUSTOM_ATTRIBUTES_HEADER):
        metadata["customAttributes"] = [headers[CUSTOM_ATTRIBUTES_HEADER]]
    return json.dumps({"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"})


def _capture_config(sagemaker, endpoint_name: str) -> tuple[dict | None, list[str]]:
    """The endpoint's current DataCaptureConfig when it captures, and its variants' names."""
    endpoint = sagemaker.endpoints.get(endpoint_name)
    if endpoint is None:
        return None, []
    config = sagemaker.endpoint_configs.get(endpoint.endpoint_config_name)
    if config is None:
        return None, []
    capture = config.data_capture_config or {}
    variants = [v["VariantName"] for v in config.production_variants]
    if not capture or not capture.get("EnableCapture", True) or not capture.get("DestinationS3Uri"):
        return None, variants
    return capture, variants


def record(account: str, region: str, endpoint_name: str, request: bytes, headers, status: int, answer_headers, answer):
    """Capture one answered invocation if the endpoint's config asks for it."""
    from moto.sagemaker.models import sagemaker_backends

    if status != 200:
        return
    config, variants = _capture_config(sagemaker_backends[account][region], endpoint_name)
    if config is None:
        return
    if random.random() * 100 >= float(config.get("InitialSamplingPercentage", 100)):  # noqa: S311
        return
    variant = answer_headers.get("x-Amzn-Invoked-Production-Variant")
    if variant not in variants:  # moto's canned answers may name none, or a made-up one
        variant = variants[0] if variants else "AllTraffic"
    at = datetime.now(UTC)
    body = answer.encode() if isinstance(answer, str) else answer
    line = capture_record(
        config, request, headers.get("Content-Type", ""), body, answer_headers.get("Content-Type", ""), headers, at
    )
    folder = f"{config['DestinationS3Uri'].rstrip('/')}/{endpoint_name}/{variant}/{at:%Y/%m/%d/%H}"
    _add(account, folder, at, line)


def _add(account: str, folder: str, at: datetime, line: str) -> None:
    global _flusher
    key = (account, folder)
    with _lock:
        _waiting.setdefault(key, []).append((at, line))
        _first.setdefault(key, time.monotonic())
        full = len(_waiting[key]) >= settings["flush_records"]
        if _flusher is None or not _flusher.is_alive():
            _flusher = threading.Thread(target=_flush_loop, name="data-capture", daemon=True)
            _flusher.start()
    if full:
        flush(only=key)


def _flush_loop() -> None:
    while True:
        time.sleep(min(1.0, settings["flush_seconds"]))
        due = time.monotonic() - settings["flush_seconds"]
        with _lock:
            keys = [key for key, first in _first.items() if first <= due]
        for key in keys:
            flush(only=key)


def flush(only: tuple | None = None) -> int:
    """Write the events waiting (of one folder, or all) as capture files; how many."""
    from ..programs import put_object

    with _lock:
        keys = [only] if only is not None else list(_waiting)
        batches = {key: _waiting.pop(key, []) for key in keys}
        for key in keys:
            _first.pop(key, None)
    written = 0
    for (account, folder), events in batches.items():
        if not events:
            continue
        at = events[0][0]
        uri = f"{folder}/{at:%M-%S}-{at.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        try:
            put_object(account, uri, "\n".join(line for _, line in events).encode() + b"\n")
            written += len(events)
        except Exception:  # AWS drops capture it cannot write (a missing bucket); the invocation succeeded
            log.warning("Data capture to %s failed", uri, exc_info=True)
    return written


def patch() -> None:
    """Wrap InvokeEndpoint (moto's, or the runtime extension's): answer first, then capture."""
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    answered = SageMakerRuntimeResponse.invoke_endpoint

    def invoke_endpoint(self):
        status, headers, body = answered(self)
        name = unquote(self.path.split("/")[2])  # /endpoints/<name>/invocations
        request = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
        try:
            record(self.current_account, self.region, name, request, self.headers, status, headers, body)
        except Exception:  # capture must never fail an invocation
            log.exception("Data capture of an invocation of %s failed", name)
        return status, headers, body

    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint
