"""The export's file formats: CSV, JSON Lines and Parquet, each typed from the schema."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

from app.research.export_schema import SCHEMA_VERSION, Column, Table

FORMATS = ("csv", "jsonl", "parquet")

#: Parquet type of each column type. Timestamps stay ISO 8601 text, as in CSV, so every format
#: holds the same values; JSON columns hold the CSV's compact JSON text.
PARQUET_TYPES = {"integer": "int64", "number": "float64", "string": "string", "boolean": "bool",
                 "timestamp": "string", "json": "string"}
#: Key-value metadata keys of every Parquet file.
META_VERSION, META_TABLE = "hyperquest.schema_version", "hyperquest.table"


class ExportError(ValueError):
    """An export that cannot be written as asked (bad format, missing library)."""


def json_text(value: Any) -> str:
    """Compact JSON with sorted keys: a json column's text in CSV and Parquet."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _csv_cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.type == "json":
        return json_text(value)
    if column.type == "boolean":
        return "true" if value else "false"
    if column.type == "number":
        return repr(float(value))  # repr round-trips every double exactly
    return str(value)


def table_csv(table: Table, rows: Iterable[dict]) -> bytes:
    """A CSV file: header of column names, empty field = null, JSON columns as JSON text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in rows:
        writer.writerow([_csv_cell(c, row[c.name]) for c in table.columns])
    return out.getvalue().encode("utf-8")


def table_jsonl(table: Table, rows: Iterable[dict]) -> bytes:
    """A JSON Lines file: one object per row, keys in column order, JSON columns as values."""
    lines = []
    for row in rows:
        values = {c.name: (float(row[c.name]) if c.type == "number" and row[c.name] is not None else row[c.name])
                  for c in table.columns}
        lines.append(json.dumps(values, allow_nan=False, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


def _parquet_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.type == "json":
        return json_text(value)
    if column.type == "number":
        return float(value)
    return value


def parquet_schema(table: Table):
    """The pyarrow schema of a table, with the schema version and table name in its metadata."""
    import pyarrow as pa

    fields = [pa.field(c.name, pa.type_for_alias(PARQUET_TYPES[c.type]), nullable=c.nullable,
                       metadata={"description": c.description, "hyperquest.type": c.type})
              for c in table.columns]
    return pa.schema(fields, metadata={META_VERSION: SCHEMA_VERSION, META_TABLE: table.name})


def table_parquet(table: Table, rows: Iterable[dict]) -> bytes:
    """A Parquet file typed by the schema; pyarrow is imported here only (the web app starts without it)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("the parquet format needs pyarrow, which this installation lacks") from None
    rows = list(rows)
    schema = parquet_schema(table)
    arrays = [pa.array([_parquet_value(c, row[c.name]) for row in rows], type=schema.field(c.name).type)
              for c in table.columns]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), buffer)
    return buffer.getvalue()


WRITERS = {"csv": table_csv, "jsonl": table_jsonl, "parquet": table_parquet}


def check_format(fmt: str) -> str:
    """``fmt`` when it is a known format, else ExportError with the choices."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {fmt[:20]!r}")
    return fmt
