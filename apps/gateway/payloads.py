"""What the gateway reads of a scoring request: CSV turned into MLflow's
``dataframe_split`` (so every backend receives one JSON format), and, off the
request path (in the capture writer), the input rows of any MLflow scoring
format as row objects, with sensitive columns masked."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

# a request's input rows are read once for everything that profiles traffic (the gateway's
# capture, the monitors, a cluster job profiling an inference table): the jobs package's
from apps.backends.jobs.capture_rows import MASK, masked, request_rows  # noqa: F401 - read from here too

JSON, CSV = "application/json", "text/csv"
FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")


class BadPayload(ValueError):
    pass


def cell(text: str):
    """A CSV cell as MLflow's scoring server reads it: empty is null, then an int, a float or text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def csv_as_json(body: bytes, content_type: str) -> bytes:
    """CSV as MLflow's scoring server reads it (a header row of column names, unless
    the content type says ``header=absent``), sent on as ``{"dataframe_split": ...}``."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadPayload(f"The CSV body is not UTF-8: {exc}") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    split: dict[str, Any] = {}
    if "header=absent" not in content_type.replace(" ", "").lower():
        if not rows:
            raise BadPayload("The CSV body has no header row.")
        split["columns"], rows = rows[0], rows[1:]
    if not rows:
        raise BadPayload("The CSV body has no rows to score.")
    split["data"] = [[cell(value) for value in row] for row in rows]
    return json.dumps({"dataframe_split": split}).encode()


def with_request_id(body: bytes, field: str, value: str) -> bytes:
    """``body`` (a JSON object) with ``"<field>": "<value>"`` added as its first member, spliced
    in without parsing the body (the request path never parses what it forwards). Unchanged
    when it is not an object or already names ``field``: the caller's own id is kept."""
    stripped = body.lstrip()
    if not stripped.startswith(b"{") or f'"{field}"'.encode() in body:
        return body
    rest = stripped[1:]
    member = json.dumps({field: value})[1:-1].encode()
    return b"{" + member + (b"," if rest.lstrip()[:1] != b"}" else b"") + rest


def response_predictions(body: bytes) -> str:
    """The model's answer as JSON text: its ``predictions`` when it has them, else the whole answer."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return json.dumps(body[:10_000].decode("utf-8", errors="replace"))
    if isinstance(answer, dict) and "predictions" in answer:
        answer = answer["predictions"]
    return json.dumps(answer, separators=(",", ":"))
