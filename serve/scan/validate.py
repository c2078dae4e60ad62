"""Row checks before scoring: text that decodes, a title that is present, non-empty text."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from serve.scan.columns import ColumnMap
from serve.scan.inputs import InputFile
from serve.scan.readers import RawChunk, reject, require_title


def is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(data_type))


def validate(chunk: RawChunk, source: InputFile, columns: ColumnMap
             ) -> tuple[pa.Table, list[dict]]:
    """(rows fit to score, rejects); together they account for every row of ``chunk.table``.

    CSV columns arrive as bytes and are decoded here; a row with undecodable bytes in any
    column is rejected. The title must be text, present and non-blank; the description, when
    the column exists, text or null.
    """
    table = chunk.table
    n = table.num_rows
    require_title(source, table.column_names, columns)
    reasons: list[str | None] = [None] * n
    table = _decode(table, reasons, every_binary=source.format == "csv",
                    wanted=(columns.title, columns.description))
    _check_title(table.column(columns.title), columns.title, reasons)
    if columns.description and columns.description in table.column_names:
        _check_description(table.column(columns.description), columns.description, reasons)
    bad = [i for i, r in enumerate(reasons) if r is not None]
    if not bad:
        return table, []
    keep = pa.array([r is None for r in reasons])
    titles = table.column(columns.title).take(bad).to_pylist()
    idents = (table.column(columns.id).take(bad).to_pylist()
              if columns.id and columns.id in table.column_names else [None] * len(bad))
    rejects = [
        reject(source, reasons[i], row=chunk.first_row + i + 1,
               line=chunk.lines[i] if chunk.lines else None, ident=ident, title=title)
        for i, ident, title in zip(bad, idents, titles, strict=True)
    ]
    return table.filter(keep), rejects


def _decode(table: pa.Table, reasons: list[str | None], *, every_binary: bool,
            wanted: tuple[str | None, ...]) -> pa.Table:
    for index, name in enumerate(table.column_names):
        column = table.column(index)
        if pa.types.is_dictionary(column.type) and name in wanted:
            # a pandas categorical column is stored as a dictionary: its values are the text
            column = pc.cast(column, column.type.value_type)
            table = table.set_column(index, name, column)
        if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
            continue
        if not every_binary and name not in wanted:
            continue  # a genuinely binary Parquet column stays bytes
        try:
            decoded = pc.cast(column, pa.string())
        except pa.ArrowInvalid:
            values = []
            for i, value in enumerate(column.to_pylist()):
                try:
                    values.append(None if value is None else value.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    values.append(value.decode("utf-8", errors="replace"))  # for the reject
                    if reasons[i] is None:
                        reasons[i] = (f"undecodable bytes (not UTF-8) in column {name!r} at "
                                      f"byte {exc.start}")
            decoded = pa.chunked_array([pa.array(values, type=pa.string())])
        table = table.set_column(index, name, decoded)
    return table


def _check_title(column: pa.ChunkedArray, name: str, reasons: list[str | None]) -> None:
    if pa.types.is_null(column.type):
        _mark(reasons, range(len(reasons)), f"missing title ({name!r} is null)")
        return
    if not is_text(column.type):
        _mark(reasons, range(len(reasons)),
              f"wrong type: {name!r} is {column.type}, expected text")
        return
    missing = pc.is_null(column).to_numpy(zero_copy_only=False)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column.fill_null(""))), 0)
    blank = blank.to_numpy(zero_copy_only=False)
    for i in missing.nonzero()[0]:
        _mark(reasons, [int(i)], f"missing title ({name!r} is null)")
    for i in blank.nonzero()[0]:
        _mark(reasons, [int(i)], f"empty title ({name!r} is blank)")


def _check_description(column: pa.ChunkedArray, name: str, reasons: list[str | None]) -> None:
    if pa.types.is_null(column.type) or is_text(column.type):
        return
    present = pc.invert(pc.is_null(column)).to_numpy(zero_copy_only=False)
    _mark(reasons, [int(i) for i in present.nonzero()[0]],
          f"wrong type: {name!r} is {column.type}, expected text or null")


def _mark(reasons: list[str | None], rows, reason: str) -> None:
    for i in rows:
        if reasons[i] is None:
            reasons[i] = reason
