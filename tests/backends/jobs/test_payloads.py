"""The one reading of a scoring request (``payloads.payload_frame``): every
format MLflow's scoring protocol accepts, and CSV rows, give the same rows
with MLflow's parser (the portal, Databricks) and with pandas alone (the
SageMaker image); a bad payload says what is wrong with it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.models import infer_signature

from apps.backends.jobs.payloads import PayloadError, payload_frame

ROWS = pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, 4.0]})
PARSERS = [pytest.param(True, id="mlflow"), pytest.param(False, id="pandas")]


@pytest.mark.parametrize("use_mlflow", PARSERS)
@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_records": [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]},
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0]]}},
        {"instances": [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]},
        {"inputs": {"a": [1.0, 3.0], "b": [2.0, 4.0]}},
    ],
    ids=["dataframe_records", "dataframe_split", "instances", "inputs"],
)
def test_each_format_gives_the_rows_with_their_columns(payload, use_mlflow):
    for body in (payload, json.dumps(payload), json.dumps(payload).encode()):
        frame = payload_frame(body, "application/json", use_mlflow=use_mlflow)
        pd.testing.assert_frame_equal(frame[["a", "b"]], ROWS)


@pytest.mark.parametrize("use_mlflow", PARSERS)
def test_rows_without_names_are_numbered_columns(use_mlflow):
    for payload in ({"instances": [[1.0, 2.0], [3.0, 4.0]]}, {"inputs": [[1.0, 2.0], [3.0, 4.0]]}):
        frame = payload_frame(payload, use_mlflow=use_mlflow)
        assert frame.shape == (2, 2) and frame.values.tolist() == ROWS.values.tolist()


def test_csv_is_rows_without_a_header_as_a_batch_transform_sends_them():
    frame = payload_frame(b"1.0,2.0\n3.0,4.0\n", "text/csv; charset=utf-8", use_mlflow=False)
    assert frame.values.tolist() == ROWS.values.tolist() and list(frame.columns) == [0, 1]


def test_mlflow_types_the_columns_by_the_model_s_schema():
    schema = infer_signature(ROWS).inputs  # doubles
    frame = payload_frame({"dataframe_records": [{"a": 1, "b": 2}]}, schema=schema)
    assert frame.dtypes.tolist() == ["float64", "float64"]


@pytest.mark.parametrize(
    ("body", "content_type", "use_mlflow", "message"),
    [
        ({"rows": [[1, 2]]}, "application/json", False, "Send dataframe_records, dataframe_split, instances or inputs"),
        ({"rows": [[1, 2]]}, "application/json", True, "exactly one of the input fields"),
        ({"instances": [[1]], "inputs": [[1]]}, "application/json", False, "Send dataframe_records"),
        ({"instances": [[1]], "inputs": [[1]]}, "application/json", True, "exactly one of the input fields"),
        ([[1, 2]], "application/json", True, "The request body must be a JSON object."),
        ({"dataframe_split": {"rows": [[1]]}}, "application/json", False, "must be an object with 'data'"),
        ({"dataframe_split": {"rows": [[1]]}}, "application/json", True, "must have 'data' field"),
        ({"dataframe_records": {"a": 1}}, "application/json", False, "must be a list of records"),
        ({"dataframe_records": {"a": 1}}, "application/json", True, "must be a list of records"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "application/json", False, "not a table of rows"),
        ("{not json", "application/json", False, "The request body is not valid JSON"),
        ("a,b", "application/x-npy", False, "Unsupported content type application/x-npy"),
        ("", "text/csv", False, "The CSV rows could not be read"),
    ],
)
def test_a_bad_payload_says_what_is_wrong(body, content_type, use_mlflow, message):
    with pytest.raises(PayloadError, match=message.replace("(", r"\(").replace(".", r"\.")):
        payload_frame(body, content_type, use_mlflow=use_mlflow)
    assert issubclass(PayloadError, ValueError)  # what the SageMaker image's server turns into a client error
