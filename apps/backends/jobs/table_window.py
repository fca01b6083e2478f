"""A time window of a Databricks inference table read with the SQL Statement Execution
API on a SQL warehouse, in keyset pages ordered by (timestamp_ms, databricks_request_id),
each statement's result followed chunk by chunk: a window of any size is read in
bounded memory, and a page read twice gives the same rows.

Read by the portal (``databricks/capture.py``: the cloud-capture pull) and by the
cluster program that profiles a window where it lives (``profile_job``) when it runs
without Spark. databricks-sdk only; absolute imports (it is sent with the program).
"""

from __future__ import annotations

from collections.abc import Iterator

from apps.backends.errors import BackendError

PAGE_ROWS = 5000  # rows a statement: a page of JSON text well below INLINE's 25 MiB for small payloads


def quoted(name: str) -> str:
    """A Unity Catalog name as a SQL identifier, each part back-quoted."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split("."))


def _finished(client, response):
    """The statement's result. One that outlived the call's wait (a warehouse starting) was
    cancelled (``on_wait_timeout=CANCEL``) and is tried again later: no worker waits on the cloud."""
    from databricks.sdk.service import sql

    terminal = {sql.StatementState.SUCCEEDED, sql.StatementState.FAILED, sql.StatementState.CANCELED}
    state = response.status.state if response.status else None
    if state not in terminal:  # not expected with CANCEL, but never left running
        client.statement_execution.cancel_execution(response.statement_id)
    if state not in terminal or state == sql.StatementState.CANCELED:
        raise BackendError("The SQL warehouse is starting or busy; the portal will read the inference table later.")
    if state != sql.StatementState.SUCCEEDED:
        error = response.status.error if response.status else None
        message = error.message if error and error.message else f"the statement ended {state}"
        raise BackendError(f"Reading the inference table failed: {message}", permanent=True)
    return response


def statement_rows(client, response) -> Iterator[dict]:
    """A finished statement's rows as dicts by column name, its result followed chunk by chunk."""
    names = [column.name for column in response.manifest.schema.columns]
    chunk = response.result
    while chunk is not None:
        for values in chunk.data_array or []:
            yield dict(zip(names, values, strict=True))
        if chunk.next_chunk_index is None:
            break
        chunk = client.statement_execution.get_statement_result_chunk_n(response.statement_id, chunk.next_chunk_index)


def window_rows(
    client,
    warehouse_id: str,
    table: str,
    *,
    columns: tuple[str, ...],
    since_ms: int,
    until_ms: int,
    page_rows: int = PAGE_ROWS,
) -> Iterator[dict]:
    """The rows of ``table`` with ``since_ms <= timestamp_ms < until_ms``, ``columns`` of each
    (values as the API renders them: text or None), page by page."""
    from databricks.sdk.service import sql

    wanted = tuple(dict.fromkeys((*columns, "timestamp_ms", "databricks_request_id")))
    # The table name is back-quoted (quoted); every value travels as a parameter.
    statement = (
        f"SELECT {', '.join(wanted)} FROM {quoted(table)} "  # noqa: S608
        "WHERE timestamp_ms >= :since_ms AND timestamp_ms < :until_ms "
        "AND (timestamp_ms > :after_ms OR (timestamp_ms = :after_ms AND databricks_request_id > :after_id)) "
        f"ORDER BY timestamp_ms, databricks_request_id LIMIT {int(page_rows)}"
    )
    after_ms, after_id = since_ms - 1, ""
    while True:
        parameters = [
            sql.StatementParameterListItem(name="since_ms", value=str(since_ms), type="BIGINT"),
            sql.StatementParameterListItem(name="until_ms", value=str(until_ms), type="BIGINT"),
            sql.StatementParameterListItem(name="after_ms", value=str(after_ms), type="BIGINT"),
            sql.StatementParameterListItem(name="after_id", value=after_id, type="STRING"),
        ]
        response = client.statement_execution.execute_statement(
            statement,
            warehouse_id,
            parameters=parameters,
            wait_timeout="50s",
            on_wait_timeout=sql.ExecuteStatementRequestOnWaitTimeout.CANCEL,
        )
        read = 0
        for row in statement_rows(client, _finished(client, response)):
            read += 1
            after_ms, after_id = int(row["timestamp_ms"]), row["databricks_request_id"]
            yield row
        if read < page_rows:
            return
