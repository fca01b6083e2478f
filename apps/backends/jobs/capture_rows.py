"""The input rows of a captured scoring request, read the one way everything that
profiles traffic reads them: the gateway's capture writer, the portal's monitor
reading the capture store, and the cluster program that profiles a Databricks
inference table where it lives (``profile_job``), so a window's profile is the same
wherever it was made.

A request body in any of MLflow's scoring formats (``dataframe_records``,
``dataframe_split``, ``instances``, ``inputs``) becomes row objects
(``request_rows``); sensitive columns are masked (``masked``); rows become one Arrow
table whose column types Arrow infers (``rows_table``). No Django, absolute imports
only: it is sent with the cluster program.
"""

from __future__ import annotations

import json

MASK = "***"
UNPARSED = "_raw"  # the row of a request body that was not JSON: kept as text, never a feature


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


def request_rows(body: bytes | str) -> list[dict]:
    """The input rows of a JSON scoring request (what the gateway forwarded) as row objects."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body if isinstance(body, str) else body[:10_000].decode("utf-8", errors="replace")
        return [{UNPARSED: text[:10_000]}]
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


def masked(rows: list[dict], sensitive) -> list[dict]:
    if not sensitive:
        return rows
    return [{k: (MASK if k in sensitive else v) for k, v in row.items()} for row in rows]


def rows_table(rows: list[dict]):
    """Row objects as one pyarrow table (None with no row); the unparsed-body column and
    columns with no value at all left out. A column whose values mix types (numbers and
    text) in these rows is read as text, as pandas reads it."""
    import pyarrow as pa

    if not rows:
        return None
    try:
        frame = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        import pandas as pd

        data = pd.DataFrame(rows)
        for name in data.select_dtypes(include="object").columns:
            data[name] = data[name].map(lambda value: None if value is None else str(value))
        frame = pa.Table.from_pandas(data, preserve_index=False)
    keep = [
        name for name in frame.column_names if name != UNPARSED and not pa.types.is_null(frame.schema.field(name).type)
    ]
    return frame.select(keep)
