"""Score one chunk: validate, prepare texts, one vectorised model call, add output columns.

Both engines call :func:`score_chunk`, so they give the same rows, columns and rejects.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from model import Classifier
from serve.scan.columns import ColumnMap, added_columns
from serve.scan.inputs import InputFile
from serve.scan.readers import RawChunk
from serve.scan.validate import validate

log = logging.getLogger(__name__)
RENAMED_PREFIX = "input_"


@dataclass
class ScoredChunk:
    file_index: int
    chunk_index: int
    first_row: int
    rows_read: int
    table: pa.Table | None  # input columns + added columns, rows that were scored
    rejects: list[dict]
    labels: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    renamed: list[str] = field(default_factory=list)

    @property
    def scanned(self) -> int:
        return 0 if self.table is None else self.table.num_rows


def score_chunk(clf: Classifier, chunk: RawChunk, source: InputFile, columns: ColumnMap,
                group_by: tuple[str, ...] = ()) -> ScoredChunk:
    valid, row_rejects = validate(chunk, source, columns)
    rejects = chunk.rejects + row_rejects
    result = ScoredChunk(chunk.file_index, chunk.chunk_index, chunk.first_row, chunk.rows_read,
                         None, rejects)
    if valid.num_rows == 0:
        return result
    titles = valid.column(columns.title).to_pylist()
    if columns.description and columns.description in valid.column_names:
        descriptions = valid.column(columns.description).to_pylist()
    else:
        descriptions = [None] * len(titles)
    texts = clf.prepare_columns(titles, descriptions)
    proba = clf.predict_proba_texts(texts)
    decisions, _ = clf.decide(proba, with_reasons=False)
    label_ids = np.argmax(proba, axis=1)
    labels = np.asarray(clf.labels.names, dtype=object)[label_ids].tolist()
    table, renamed = _make_room(valid, added_columns(clf.labels.names))
    table = table.append_column("label", pa.array(labels, type=pa.string()))
    for j, name in enumerate(clf.labels.names):
        table = table.append_column(f"score_{name}", pa.array(proba[:, j], type=pa.float64()))
    table = table.append_column("decision", pa.array(decisions, type=pa.string()))
    table = table.append_column(
        "model_version", pa.array([clf.version] * table.num_rows, type=pa.string()))
    result.table = table
    result.renamed = renamed
    result.labels = dict(Counter(labels))
    result.decisions = dict(Counter(decisions))
    for column in group_by:
        if column in valid.column_names:
            result.groups[column] = group_counts(valid.column(column), label_ids,
                                                 clf.labels.names, decisions)
    return result


def _make_room(table: pa.Table, added: list[str]) -> tuple[pa.Table, list[str]]:
    """Rename input columns that clash with added ones (``label`` → ``input_label``)."""
    clashes = [n for n in table.column_names if n in added]
    if not clashes:
        return table, []
    names = [RENAMED_PREFIX + n if n in clashes else n for n in table.column_names]
    return table.rename_columns(names), clashes


def group_counts(values: pa.ChunkedArray | pa.Array, label_ids: np.ndarray,
                 label_names: list[str], decisions: list[str]
                 ) -> dict[str, dict[str, int]]:
    """Rows, labels and decisions per value of one column: ``{value: {"rows": n,
    "label:drugs": n, "decision:block": n, ...}}``, with nulls under ``"(null)"``.

    Counted with numpy over dictionary codes: a Python loop over the rows cost more than
    a tenth of the baseline's scoring time.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = pa.array([None if v is None else str(v) for v in values.to_pylist()],
                          type=pa.string())
    encoded = values.dictionary_encode()
    names = [*encoded.dictionary.to_pylist(), "(null)"]
    codes = encoded.indices.fill_null(len(names) - 1).to_numpy().astype(np.int64)
    decision_names, decision_ids = np.unique(np.asarray(decisions, dtype=object).astype(str),
                                             return_inverse=True)
    out: dict[str, Counter] = {}
    for prefix, ids, id_names in (("rows", np.zeros_like(codes), [""]),
                                  ("label:", label_ids, list(label_names)),
                                  ("decision:", decision_ids, decision_names.tolist())):
        width = len(id_names)
        pairs, counts = np.unique(codes * width + ids, return_counts=True)
        for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
            key = prefix + id_names[pair % width]
            out.setdefault(names[pair // width], Counter())[key] += count
    return {value: dict(counter) for value, counter in out.items()}
