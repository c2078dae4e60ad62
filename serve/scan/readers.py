"""Streaming readers: every input format becomes the same sequence of fixed-size chunks.

A chunk is ``chunk_rows`` records of one file (the last may be shorter). Chunking depends only
on the file's content and ``chunk_rows``, so a resumed scan sees exactly the same chunks and
can skip the ones its manifest says are done. Records that cannot become a row (a CSV line
with the wrong number of fields, a JSONL line that is not UTF-8 or not a JSON object, a title
of the wrong type) are returned with the chunk as rejects, never dropped.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from serve.scan.columns import ColumnMap
from serve.scan.inputs import InputFile, filesystem_for

CSV_BLOCK_BYTES = 1 << 20


class FileError(ValueError):
    """The file as a whole cannot be scanned (a required column is missing, say)."""


def require_title(source: InputFile, names: list[str], columns: ColumnMap) -> None:
    if columns.title not in names:
        raise FileError(f"no title column {columns.title!r} (columns: "
                        f"{', '.join(names) or 'none'}); choose one with --title-column")


@dataclass
class RawChunk:
    file_index: int
    chunk_index: int
    first_row: int  # rows (table rows) of this file before this chunk
    table: pa.Table
    rejects: list[dict] = field(default_factory=list)  # read-time rejects (no table row)
    lines: list[int] | None = None  # physical line of each table row, where the format knows

    @property
    def rows_read(self) -> int:
        return self.table.num_rows + len(self.rejects)


def iter_chunks(source: InputFile, file_index: int, chunk_rows: int,
                columns: ColumnMap) -> Iterator[RawChunk]:
    """The chunks of one input file, in order."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if source.format == "parquet":
        yield from _parquet_chunks(source, file_index, chunk_rows, columns)
    elif source.format == "csv":
        yield from _csv_chunks(source, file_index, chunk_rows, columns)
    elif source.format == "jsonl":
        yield from _jsonl_chunks(source, file_index, chunk_rows, columns)
    else:
        raise ValueError(f"{source.path}: unknown format {source.format!r}")


def reject(source: InputFile, reason: str, *, row: int | None = None, line: int | None = None,
           ident: object = None, title: object = None) -> dict:
    """One rejects.jsonl record (the same shape from every reader, validator and engine)."""
    if isinstance(title, bytes):
        title = title.decode("utf-8", errors="replace")
    return {
        "source": source.path,
        "format": source.format,
        "row": row,
        "line": line,
        "id": None if ident is None else str(ident),
        "reason": reason,
        "title": None if title is None else str(title)[:200],
    }


# -- Parquet ----------------------------------------------------------------------------
def _parquet_chunks(source: InputFile, file_index: int, chunk_rows: int,
                    columns: ColumnMap) -> Iterator[RawChunk]:
    fs, inner = filesystem_for(source.path)
    with fs.open_input_file(inner) as handle:
        parquet = pq.ParquetFile(handle)
        require_title(source, parquet.schema_arrow.names, columns)
        # one reader per row group: a single iter_batches over the whole file keeps what it
        # has read allocated until it ends (+350 MB per 2.5M rows here; apache/arrow#39808
        # reports the like), which breaks the scan's flat memory on big files
        batches = (batch for group in range(parquet.num_row_groups)
                   for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[group],
                                                     use_threads=False))
        yield from _rechunk(batches, file_index, chunk_rows, lambda: [])


def parquet_rows(source: InputFile) -> int:
    fs, inner = filesystem_for(source.path)
    with fs.open_input_file(inner) as handle:
        return pq.ParquetFile(handle).metadata.num_rows


# -- CSV ----------------------------------------------------------------------------------
def _csv_chunks(source: InputFile, file_index: int, chunk_rows: int,
                columns: ColumnMap) -> Iterator[RawChunk]:
    """CSV fields are read as raw bytes and decoded later, row by row where needed.

    CSV has no types, and type inference on the first block breaks on a later block that
    disagrees; reading every column as text is the only stable schema. Bytes first, so one
    undecodable field rejects its row instead of failing the file.
    """
    names = _csv_header(source)
    require_title(source, names, columns)
    broken: list[dict] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        broken.append(reject(
            source, f"broken CSV line: expected {row.expected_columns} fields, got "
            f"{row.actual_columns}", line=row.number, title=(row.text or "")[:200]))
        return "skip"

    fs, inner = filesystem_for(source.path)
    with fs.open_input_stream(inner, compression=source.compression) as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.binary() for n in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False),
        )

        def drain() -> list[dict]:
            out = list(broken)
            broken.clear()
            return out

        yield from _rechunk(reader, file_index, chunk_rows, drain)


def _csv_header(source: InputFile) -> list[str]:
    fs, inner = filesystem_for(source.path)
    with fs.open_input_stream(inner, compression=source.compression) as stream:
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(
            use_threads=False, block_size=1 << 16),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=lambda _row: "skip"),
            convert_options=pacsv.ConvertOptions(column_types={}))
        names = list(reader.schema.names)
    if len(set(names)) != len(names):
        raise ValueError(f"{source.path}: duplicate column names in the CSV header {names}")
    return names


def _rechunk(batches: Iterator[pa.RecordBatch] | pacsv.CSVStreamingReader, file_index: int,
             chunk_rows: int, drain: Callable[[], list[dict]]) -> Iterator[RawChunk]:
    """Re-slice record batches of any size into tables of exactly ``chunk_rows`` rows.

    Read-time rejects pending when a chunk is cut go with that chunk; reading is serial, so
    which chunk that is depends only on the file.
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    first_row = 0
    chunk_index = 0
    rejects: list[dict] = []
    for batch in batches:
        rejects.extend(drain())
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= chunk_rows:
            table = pa.Table.from_batches(pending)
            head, rest = table.slice(0, chunk_rows), table.slice(chunk_rows)
            yield RawChunk(file_index, chunk_index, first_row, head.combine_chunks(), rejects)
            rejects = []
            chunk_index += 1
            first_row += chunk_rows
            pending = rest.to_batches()
            pending_rows = rest.num_rows
    rejects.extend(drain())
    if pending_rows or rejects:
        schema = getattr(batches, "schema", None)
        table = (pa.Table.from_batches(pending).combine_chunks() if pending
                 else pa.table({}) if schema is None else schema.empty_table())
        yield RawChunk(file_index, chunk_index, first_row, table, rejects)


# -- JSONL --------------------------------------------------------------------------------
def _jsonl_chunks(source: InputFile, file_index: int, chunk_rows: int,
                  columns: ColumnMap) -> Iterator[RawChunk]:
    fs, inner = filesystem_for(source.path)
    with fs.open_input_stream(inner, compression=source.compression) as stream:
        lines = io.BufferedReader(_RawAdapter(stream), buffer_size=1 << 20)
        records: list[dict] = []
        line_numbers: list[int] = []
        rejects: list[dict] = []
        chunk_index = first_row = 0
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            record, problem = _parse_json_line(raw, columns)
            if problem:
                title = record.get(columns.title) if isinstance(record, dict) else raw[:200]
                ident = record.get(columns.id) if isinstance(record, dict) else None
                rejects.append(reject(source, problem, line=number, ident=ident, title=title))
            else:
                records.append(record)
                line_numbers.append(number)
            if len(records) + len(rejects) >= chunk_rows:
                table = _records_table(records, columns.title)
                yield RawChunk(file_index, chunk_index, first_row, table, rejects, line_numbers)
                chunk_index += 1
                first_row += len(records)
                records, line_numbers, rejects = [], [], []
        if records or rejects:
            table = _records_table(records, columns.title)
            yield RawChunk(file_index, chunk_index, first_row, table, rejects, line_numbers)


class _RawAdapter(io.RawIOBase):
    """Lets :class:`io.BufferedReader` split a pyarrow stream (maybe decompressing) into lines."""

    def __init__(self, stream: pa.NativeFile) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


_TEXT_OR_NULL = (str, type(None))
# "\ud800"-style escapes: JSON allows them alone, but an unpaired one is not Unicode text
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _parse_json_line(raw: bytes, columns: ColumnMap) -> tuple[dict | bytes, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw, f"undecodable bytes (not UTF-8) at byte {exc.start}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return raw, f"broken JSON line: {exc.msg} at column {exc.colno}"
    if not isinstance(record, dict):
        return raw, f"a JSON line must be an object, got {type(record).__name__}"
    if _SURROGATE_ESCAPE.search(text):  # paired escapes (emoji) are fine; check the result
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return raw, "text holds an unpaired surrogate escape (\\ud800-\\udfff), not Unicode"
    for name in (columns.title, columns.description):
        value = record.get(name)
        if name and not isinstance(value, _TEXT_OR_NULL):
            return record, f"wrong type: '{name}' is a JSON {_json_type(value)}, expected text"
    return record, None


def _json_type(value: object) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def _records_table(records: list[dict], title: str) -> pa.Table:
    """A table from JSON objects whose keys and value types may differ from line to line.

    Columns are the union of keys in first-seen order; a column whose values have mixed
    types (a number here, a string there) is kept as the JSON text of each value.
    """
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    arrays = {}
    for name in names:
        values = [record.get(name) for record in records]
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[name] = pa.array(
                [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                 for v in values], type=pa.string())
    if title not in arrays:  # no line of the chunk has a title: each is rejected, not the file
        arrays[title] = pa.nulls(len(records), pa.string())
    return pa.table(arrays)
