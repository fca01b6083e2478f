"""The Databricks stand-in's SQL Statement Execution API, through databricks-sdk:
what the inference-table reader relies on (named typed parameters, chunks that
point to the next, row_limit's truncation) and the failures it must tell apart
(a failed statement is HTTP 200 with state FAILED; an unknown warehouse is refused)."""

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as dberrors
from databricks.sdk.service import sql

from apps.backends.base import BackendError
from apps.backends.jobs import table_window
from apps.backends.sandbox.databricks import WAREHOUSE_ID, DatabricksStandIn

TOKEN = "dapi-sql-tests"
TABLE = "main.logs.ep_payload"


@pytest.fixture(scope="module")
def standin():
    with DatabricksStandIn(token=TOKEN, statement_chunk_rows=2) as server:
        server.state["inference_tables"][TABLE] = [
            {"databricks_request_id": f"r{i}", "timestamp_ms": 1000 + i, "status_code": 200, "request": "{}"}
            for i in range(5)
        ]
        yield server


def client(standin):
    return WorkspaceClient(host=standin.url, token=TOKEN, auth_type="pat")


def test_parameters_chunks_and_row_limit(standin):
    w = client(standin)
    parameter = sql.StatementParameterListItem(name="after", value="1001", type="BIGINT")
    done = w.statement_execution.execute_statement(
        "SELECT databricks_request_id, timestamp_ms FROM `main`.`logs`.`ep_payload` "
        "WHERE timestamp_ms > :after ORDER BY timestamp_ms",
        WAREHOUSE_ID,
        parameters=[parameter],
    )
    assert done.status.state == sql.StatementState.SUCCEEDED
    assert [c.name for c in done.manifest.schema.columns] == ["databricks_request_id", "timestamp_ms"]
    assert (done.manifest.total_row_count, done.manifest.total_chunk_count) == (3, 2)
    assert done.result.data_array == [["r2", "1002"], ["r3", "1003"]]  # every value a string
    second = w.statement_execution.get_statement_result_chunk_n(done.statement_id, done.result.next_chunk_index)
    assert (second.data_array, second.next_chunk_index) == ([["r4", "1004"]], None)

    limited = w.statement_execution.execute_statement("SELECT * FROM main.logs.ep_payload", WAREHOUSE_ID, row_limit=4)
    assert (limited.manifest.total_row_count, limited.manifest.truncated) == (4, True)


def test_failures_are_told_apart(standin):
    w = client(standin)
    failed = w.statement_execution.execute_statement("SELECT * FROM main.logs.nothing", WAREHOUSE_ID)
    assert failed.status.state == sql.StatementState.FAILED
    assert "TABLE_OR_VIEW_NOT_FOUND" in failed.status.error.message
    with pytest.raises(BackendError) as caught:
        table_window._finished(w, failed)
    assert caught.value.permanent and "TABLE_OR_VIEW_NOT_FOUND" in caught.value.message
    with pytest.raises(dberrors.NotFound):
        w.statement_execution.execute_statement("SELECT * FROM main.logs.ep_payload", "no-such-warehouse")
