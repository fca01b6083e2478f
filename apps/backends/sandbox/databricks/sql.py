"""Part of the Databricks STAND-IN (not Databricks): the SQL Statement Execution
API (``/api/2.0/sql/statements``) over the tables the stand-in keeps (the
inference tables of ``.inference_tables``, the billing system tables of
``.system_tables``).

A statement runs at once: the answer is SUCCEEDED (with the manifest and the
first result chunk) or FAILED (``status.error``, HTTP 200, as Databricks
answers a statement that fails), whatever ``wait_timeout`` asks. Results are
INLINE and JSON_ARRAY only (the SDK's defaults; EXTERNAL_LINKS and the other
formats are refused with a 400 here): every value a string or null, split into
chunks of ``statement_chunk_rows`` rows, each fetched by index
(``GET .../result/chunks/{n}``) and pointing to the next, as on Databricks.
``row_limit`` truncates and says so. Cancel is accepted (a finished statement
stays as it was, as on Databricks). The warehouse must be one of the
stand-in's ``warehouse_ids``.

The SQL is one SELECT run by SQLite over a copy of the tables it names
(``catalog.schema.table``, back-quoted or not; the request's ``catalog`` and
``schema`` complete shorter names), with Databricks' named parameter markers
(``:name``) typed by the parameters' ``type``: filters, ORDER BY and LIMIT are
what Atrium sends. Databricks SQL that SQLite does not speak fails as a
statement error would. A MAP column reads as a JSON object, as Databricks'
JSON_ARRAY format renders it. Statements are kept in memory (the newest 200).
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid

from .inference_tables import PAYLOAD_COLUMNS
from .router import ApiError, invalid, not_found, route
from .system_tables import STRUCT_COLUMNS

WAREHOUSE_ID = "5a7e5a7e5a7e5a7e"  # the stand-in's one SQL warehouse
TABLE = re.compile(r"\b(FROM|JOIN)\s+((?:`[^`]+`|[A-Za-z_][\w-]*)(?:\s*\.\s*(?:`[^`]+`|[A-Za-z_][\w-]*)){0,2})", re.I)
INTEGERS = {"BIGINT", "LONG", "INT", "INTEGER", "SMALLINT", "TINYINT", "SHORT", "BYTE"}
FLOATS = {"DOUBLE", "FLOAT", "DECIMAL", "REAL"}
KEEP_STATEMENTS = 200
# A struct column's field (``u.usage_metadata.job_id``, ``p.pricing.default``): read from its JSON.
STRUCT_FIELD = re.compile(rf"\b((?:\w+\.)?(?:{'|'.join(STRUCT_COLUMNS)}))\.(\w+)\b")


class StatementError(Exception):
    pass


def _typed(parameter: dict):
    value, kind = parameter.get("value"), str(parameter.get("type") or "STRING").upper().split("(")[0]
    if value is None:
        return None
    try:
        if kind in INTEGERS:
            return int(value)
        if kind in FLOATS:
            return float(value)
    except ValueError:
        raise StatementError(f"[INVALID_PARAMETER_MARKER_VALUE] {value!r} is not a {kind}.") from None
    if kind == "BOOLEAN":
        return str(value).lower() == "true"
    return str(value)


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class StatementsApi:
    """Mixed into ``DatabricksStandIn``: uses its state, ``warehouse_ids``,
    ``statement_chunk_rows`` and ``_statements``."""

    def _table(self, name: str) -> tuple[tuple, list[dict]] | None:
        """(columns as (name, type), rows) of a table the stand-in keeps, or None."""
        rows = self.state.get("inference_tables", {}).get(name)
        if rows is not None:
            return PAYLOAD_COLUMNS, rows
        return self._system_table(name)

    def _run(self, statement: str, parameters: list[dict], catalog: str | None, schema: str | None, row_limit):
        if not re.match(r"^\s*(SELECT|WITH)\b", statement, re.I):
            raise StatementError("[stand-in] Only SELECT statements run here.")
        database = sqlite3.connect(":memory:")
        database.create_function("to_json", 1, lambda value: value, deterministic=True)  # kept as JSON already
        tables: dict[str, str] = {}
        declared: dict[str, str] = {}

        def local(match: re.Match) -> str:
            parts = [part.strip().strip("`").lower() for part in re.split(r"\s*\.\s*", match.group(2))]
            parts = [*([catalog, schema][: 3 - len(parts)] if len(parts) < 3 else []), *parts]
            full = ".".join(str(part) for part in parts)
            found = self._table(full) if None not in parts else None
            if found is None:
                raise StatementError(f"[TABLE_OR_VIEW_NOT_FOUND] The table or view `{full}` cannot be found.")
            table_columns, rows = found
            if full not in tables:
                tables[full] = f"t{len(tables)}"
                columns = [name for name, _ in table_columns]
                declared.update(dict(table_columns))
                database.execute(f"CREATE TABLE {tables[full]} ({', '.join(columns)})")
                database.executemany(
                    f"INSERT INTO {tables[full]} VALUES ({', '.join('?' * len(columns))})",  # noqa: S608 - our names
                    [[json.dumps(r.get(c)) if isinstance(r.get(c), dict) else r.get(c) for c in columns] for r in rows],
                )
            return f"{match.group(1)} {tables[full]}"

        sql = STRUCT_FIELD.sub(lambda m: f"json_extract({m.group(1)}, '$.{m.group(2)}')", statement)
        sql = TABLE.sub(local, sql)
        try:
            cursor = database.execute(sql, {p["name"]: _typed(p) for p in parameters or []})
            rows = cursor.fetchmany(row_limit + 1) if row_limit else cursor.fetchall()
        except sqlite3.Error as exc:
            raise StatementError(f"[stand-in SQL] {exc}") from None
        finally:
            database.close()
        truncated = bool(row_limit) and len(rows) > row_limit
        names = [column[0] for column in cursor.description or []]
        columns = [
            {
                "name": name,
                "type_text": declared.get(name, "STRING"),
                "type_name": declared.get(name, "STRING").split("<")[0].split("(")[0],
                "position": position,
            }
            for position, name in enumerate(names)
        ]
        data = [[_text(value) for value in row] for row in rows[: row_limit or None]]
        return columns, data, truncated

    def _chunk(self, statement_id: str, index: int) -> dict:
        found = self._statements[statement_id]
        chunks = found["chunks"]
        data = chunks[index] if chunks else []
        chunk = {
            "chunk_index": index,
            "row_offset": index * self.statement_chunk_rows,
            "row_count": len(data),
            "data_array": data,
        }
        if index + 1 < len(chunks):
            chunk["next_chunk_index"] = index + 1
            chunk["next_chunk_internal_link"] = f"/api/2.0/sql/statements/{statement_id}/result/chunks/{index + 1}"
        return chunk

    def _statement_json(self, statement_id: str) -> dict:
        found = self._statements[statement_id]
        body = {"statement_id": statement_id, "status": found["status"]}
        if found["status"]["state"] == "SUCCEEDED":
            body["manifest"] = found["manifest"]
            body["result"] = self._chunk(statement_id, 0)
        return body

    @route("POST", r"^/api/2\.0/sql/statements/?$")
    def _execute_statement(self, payload, **_):
        if payload.get("warehouse_id") not in self.warehouse_ids:
            raise not_found(f"Warehouse {payload.get('warehouse_id')} does not exist.")
        if (payload.get("disposition") or "INLINE") != "INLINE" or (payload.get("format") or "JSON_ARRAY") != (
            "JSON_ARRAY"
        ):
            raise invalid("The stand-in answers INLINE JSON_ARRAY results only.")
        if not payload.get("statement"):
            raise invalid("statement is required.")
        statement_id = str(uuid.uuid4())
        try:
            columns, data, truncated = self._run(
                payload["statement"],
                payload.get("parameters") or [],
                payload.get("catalog"),
                payload.get("schema"),
                payload.get("row_limit"),
            )
        except StatementError as exc:
            status = {"state": "FAILED", "error": {"error_code": "BAD_REQUEST", "message": str(exc)}}
            self._keep(statement_id, {"status": status, "chunks": []})
            return self._statement_json(statement_id)
        size = self.statement_chunk_rows
        chunks = [data[i : i + size] for i in range(0, len(data), size)] or [[]]
        manifest = {
            "format": "JSON_ARRAY",
            "schema": {"column_count": len(columns), "columns": columns},
            "total_chunk_count": len(chunks),
            "chunks": [
                {"chunk_index": i, "row_offset": i * size, "row_count": len(chunk)} for i, chunk in enumerate(chunks)
            ],
            "total_row_count": len(data),
            "truncated": truncated,
        }
        self._keep(statement_id, {"status": {"state": "SUCCEEDED"}, "manifest": manifest, "chunks": chunks})
        return self._statement_json(statement_id)

    def _keep(self, statement_id: str, found: dict) -> None:
        self._statements[statement_id] = found
        while len(self._statements) > KEEP_STATEMENTS:
            self._statements.pop(next(iter(self._statements)))

    def _known(self, statement_id: str) -> None:
        if statement_id not in self._statements:
            raise ApiError(404, "NOT_FOUND", f"Statement {statement_id} not found.")

    @route("GET", r"^/api/2\.0/sql/statements/(?P<statement_id>[^/]+)$")
    def _get_statement(self, statement_id, **_):
        self._known(statement_id)
        return self._statement_json(statement_id)

    @route("GET", r"^/api/2\.0/sql/statements/(?P<statement_id>[^/]+)/result/chunks/(?P<index>\d+)$")
    def _get_chunk(self, statement_id, index, **_):
        self._known(statement_id)
        found = self._statements[statement_id]
        if found["status"]["state"] != "SUCCEEDED" or int(index) >= max(1, len(found["chunks"])):
            raise invalid(f"Chunk {index} of statement {statement_id} does not exist.")
        return self._chunk(statement_id, int(index))

    @route("POST", r"^/api/2\.0/sql/statements/(?P<statement_id>[^/]+)/cancel$")
    def _cancel_statement(self, statement_id, **_):
        self._known(statement_id)
        return {}
