"""What the gateway reads of a scoring request: CSV turned into MLflow's
``dataframe_split`` (so every backend receives one JSON format), and, off the
request path (in the capture writer), the input rows of any MLflow scoring
format as row objects, with sensitive columns masked."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

JSON, CSV = "application/json", "text/csv"
FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
MASK = "***"


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


def _rows_of(value) -> list[dict]:
    """``instances``/``inputs``: a list of row objects or of row lists, or columns as an object."""
    if isinstance(value, dict):
        columns = {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        length = max((len(v) for v in columns.values()), default=0)
        return [{k: (v[i] if i < len(v) else None) for k, v in columns.items()} for i in range(length)]
    if isinstance(value, list):
        rows = []
        for item in value:
            if isinstance(item, dict):
                rows.append(item)
            elif isinstance(item, list):
                rows.append({str(i): v for i, v in enumerate(item)})
            else:
                rows.append({"0": item})
        return rows
    return [{"0": value}]


def request_rows(body: bytes) -> list[dict]:
    """The input rows of a JSON scoring request (what the gateway forwarded) as row objects."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [{"_raw": body[:10_000].decode("utf-8", errors="replace")}]
    if not isinstance(payload, dict):
        return _rows_of(payload)
    if isinstance(records := payload.get("dataframe_records"), list):
        return [r if isinstance(r, dict) else {"0": r} for r in records]
    if isinstance(split := payload.get("dataframe_split"), dict):
        data = split.get("data") or []
        columns = split.get("columns") or []
        return [
            dict(zip(columns, row, strict=False)) if columns else {str(i): v for i, v in enumerate(row)}
            for row in (data if isinstance(data, list) else [])
            if isinstance(row, list)
        ]
    for key in ("instances", "inputs"):
        if key in payload:
            return _rows_of(payload[key])
    return [payload]


def masked(rows: list[dict], sensitive: frozenset[str]) -> list[dict]:
    if not sensitive:
        return rows
    return [{k: (MASK if k in sensitive else v) for k, v in row.items()} for row in rows]


def response_predictions(body: bytes) -> str:
    """The model's answer as JSON text: its ``predictions`` when it has them, else the whole answer."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return json.dumps(body[:10_000].decode("utf-8", errors="replace"))
    if isinstance(answer, dict) and "predictions" in answer:
        answer = answer["predictions"]
    return json.dumps(answer, separators=(",", ":"))
