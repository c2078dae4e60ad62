"""Parts (one atomic Parquet file per chunk) and the final merge into a single file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PARTS_DIR = "parts"
MERGE_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}


def part_name(file_index: int, chunk_index: int) -> str:
    return f"part-{file_index:05d}-{chunk_index:06d}.parquet"


def write_part(table: pa.Table, directory: Path, name: str) -> None:
    """Write ``table`` to ``directory/name`` so that the name only ever holds a whole part."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_strays(directory: Path, keep: set[str]) -> int:
    """Delete temp files and parts the manifest does not list (left by a killed run)."""
    removed = 0
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name not in keep:
                path.unlink()
                removed += 1
    return removed


def unified_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for parts from differently typed inputs (CSV text vs Parquet numbers).

    Columns keep their type where every part agrees (or lacks the column), are promoted
    where Arrow can (int32 + int64), and become text where the types conflict.
    """
    types: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            types.setdefault(f.name, []).append(f.type)
    fields = []
    for name, seen in types.items():
        distinct = {t for t in seen if not pa.types.is_null(t)}
        if not distinct:
            fields.append(pa.field(name, pa.string()))
        elif len(distinct) == 1:
            fields.append(pa.field(name, distinct.pop()))
        else:
            try:
                merged = pa.unify_schemas([pa.schema([pa.field(name, t)]) for t in distinct],
                                          promote_options="permissive")
                fields.append(merged.field(name))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones null, others cast."""
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, f.type))
            continue
        column = table.column(f.name)
        if column.type == f.type:
            columns.append(column)
        elif pa.types.is_string(f.type):
            columns.append(_as_text(column))
        else:
            columns.append(column.cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                         for v in column.to_pylist()], type=pa.string())


def _csv_safe(schema: pa.Schema) -> pa.Schema:
    """CSV cannot hold nested or binary values: those columns are written as JSON text."""
    return pa.schema([
        f if not (pa.types.is_nested(f.type) or pa.types.is_binary(f.type))
        else pa.field(f.name, pa.string()) for f in schema])


def merge_parts(parts: list[Path], target: Path) -> int:
    """Stream ``parts`` into one file (format from the suffix), atomically; returns rows."""
    fmt = MERGE_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot merge into {target}: use .parquet, .csv or .jsonl")
    schema = unified_schema([pq.read_schema(p) for p in parts]) if parts else pa.schema([])
    if fmt == "csv":
        schema = _csv_safe(schema)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    rows = 0
    try:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema, compression="zstd") as out:
                for table in _tables(parts, schema):
                    out.write_table(table)
                    rows += table.num_rows
        elif fmt == "csv":
            with pacsv.CSVWriter(tmp, schema) as out:
                for table in _tables(parts, schema):
                    out.write_table(table)
                    rows += table.num_rows
        else:
            with open(tmp, "w", encoding="utf-8") as out:
                for table in _tables(parts, schema):
                    for record in table.to_pylist():
                        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                    rows += table.num_rows
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def _tables(parts: list[Path], schema: pa.Schema) -> Iterator[pa.Table]:
    for path in parts:
        yield conform(pq.read_table(path), schema)
