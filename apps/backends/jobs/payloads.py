"""A scoring request as the rows a model scores: the one reading of a payload,
used by the local model server, the SageMaker container program's handlers
and the Databricks serving stand-in.

The formats are MLflow's scoring protocol: a JSON object with one of
``dataframe_records`` (a list of row objects), ``dataframe_split``
(``{"columns", "data", "index"}``), ``instances`` or ``inputs`` (rows as
lists, or columns as an object); ``params`` beside it is the caller's to take
out first. ``text/csv`` is rows without a header, as SageMaker's batch
transforms send a file's lines.

JSON is read by MLflow's own scoring server (``infer_and_parse_data``, typed
by the model's input schema when given) wherever MLflow is installed: the
portal and a Databricks cluster. SageMaker's scikit-learn image has no MLflow,
so its program asks for the same formats read with pandas alone
(``use_mlflow=False``); it is a choice of the caller, never a guess from what
happens to be installed, so the stand-ins run the reading the image runs.

A payload that is none of these raises ``PayloadError`` (a ``ValueError``)
with a message for the person who sent it. No Django and nothing of the
portal: it is sent with the container program.
"""

from __future__ import annotations

import io
import json
from typing import Any

FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
JSON, CSV = "application/json", "text/csv"


class PayloadError(ValueError):
    """A payload the model cannot score; the message says why."""


def dataframe_split_body(frame) -> bytes:
    """Rows as the request body every backend's endpoint takes (``application/json``): MLflow's
    ``dataframe_split`` with the columns and the rows, as the gateway sends them on."""
    return json.dumps({"dataframe_split": frame.to_dict(orient="split", index=False)}).encode()


def payload_frame(payload: Any, content_type: str = JSON, *, schema=None, use_mlflow: bool = True):
    """The rows of ``payload`` as a pandas DataFrame: a request body (``str``/``bytes``, as
    ``content_type``) or a JSON value already decoded. ``schema`` is the model's input schema,
    which types the columns where MLflow reads them; a model whose schema is tensors gets the
    arrays MLflow made of ``instances``/``inputs`` as they are."""
    if isinstance(payload, (bytes, bytearray, str)):
        text = payload.decode() if isinstance(payload, (bytes, bytearray)) else payload
        if (content_type or "").startswith(CSV):
            return _csv_rows(text)
        if not (content_type or JSON).startswith(JSON):
            raise PayloadError(f"Unsupported content type {content_type}: send {JSON} or {CSV}.")
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PayloadError(f"The request body is not valid JSON: {exc}") from None
    return _mlflow_frame(payload, schema) if use_mlflow else _pandas_frame(payload)


def _csv_rows(text: str):
    import pandas as pd

    try:
        return pd.read_csv(io.StringIO(text), header=None)
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise PayloadError(f"The CSV rows could not be read: {exc}") from None


def _mlflow_frame(payload: Any, schema):
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    if not isinstance(payload, dict):
        raise PayloadError("The request body must be a JSON object.")
    try:
        parsed = infer_and_parse_data(payload, schema)
    except MlflowException as exc:
        raise PayloadError(exc.message) from None
    if isinstance(parsed, pd.DataFrame) or (schema is not None and schema.is_tensor_spec()):
        return parsed
    return _frame(parsed, "instances" if "instances" in payload else "inputs")


def _pandas_frame(payload: Any):
    """MLflow's formats read with pandas alone (for the scikit-learn image); a bare JSON list is rows."""
    if isinstance(payload, list):
        return _frame(payload, "The request body")
    if not isinstance(payload, dict):
        raise PayloadError("Send dataframe_records, dataframe_split, instances or inputs.")
    keys = [key for key in FORMATS if key in payload]
    if len(keys) != 1:
        raise PayloadError("Send dataframe_records, dataframe_split, instances or inputs.")
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value or set(value) - {"columns", "data", "index"}:
            raise PayloadError("dataframe_split must be an object with 'data' and optionally 'columns' and 'index'.")
        return _frame(value["data"], key, columns=value.get("columns"), index=value.get("index"))
    if key == "dataframe_records" and not isinstance(value, list):
        raise PayloadError("dataframe_records must be a list of records.")
    return _frame(value, key)


def _frame(rows, key: str, **axes):
    import pandas as pd

    try:
        return pd.DataFrame(rows, **axes)
    except (ValueError, TypeError) as exc:
        raise PayloadError(f"{key} is not a table of rows: {exc}") from None
