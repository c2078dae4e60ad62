"""``contraband feedback export``: verdicts as a table training can add to its data.

Columns match the dataset's (uid, text, title, description, label, source, market, kind,
vendor, group, category, date) plus feedback_id, listing_id, note, moderator, model_version.
``source``, ``market`` and ``kind`` are "feedback"; ``vendor`` and ``category`` are null;
``group`` is ``feedback:<listing id>`` so re-verdicts of one listing never straddle splits.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.text import DEFAULT_MAX_DESCRIPTION_CHARS, listing_text
from serve.api.feedback import COLUMNS, read_rows

DATASET_COLUMNS = ("uid", "text", "title", "description", "label", "source", "market", "kind",
                   "vendor", "group", "category", "date")


def feedback_frame(db: Path, *, latest_only: bool = True,
                   max_description_chars: int = DEFAULT_MAX_DESCRIPTION_CHARS) -> pd.DataFrame:
    """The verdicts as a DataFrame; with ``latest_only`` a listing id keeps its last verdict."""
    rows = pd.DataFrame(list(read_rows(db)), columns=list(COLUMNS))
    if latest_only and len(rows):
        with_id = rows[rows["listing_id"].notna()].drop_duplicates("listing_id", keep="last")
        rows = pd.concat([with_id, rows[rows["listing_id"].isna()]]).sort_values("feedback_id")
    key = rows["listing_id"].where(rows["listing_id"].notna(),
                                   "row-" + rows["feedback_id"].astype(str))
    out = pd.DataFrame({
        "uid": "feedback-" + rows["feedback_id"].astype(str),
        "text": [listing_text(t, d if isinstance(d, str) else None, max_description_chars)
                 for t, d in zip(rows["title"], rows["description"], strict=True)],
        "title": rows["title"],
        "description": rows["description"],
        "label": rows["label"],
        "source": "feedback",
        "market": "feedback",
        "kind": "feedback",
        "vendor": None,
        "group": "feedback:" + key.astype(str),
        "category": None,
        "date": pd.to_datetime(rows["created_at"], utc=True, format="ISO8601"),
    })
    for name in ("feedback_id", "listing_id", "note", "moderator", "model_version"):
        out[name] = rows[name].to_numpy()
    string_columns = [c for c in out.columns if c not in ("date", "feedback_id")]
    out[string_columns] = out[string_columns].astype("string")
    out["feedback_id"] = out["feedback_id"].astype("int64")
    return out.reset_index(drop=True)


def export_parquet(db: Path, output: Path, *, latest_only: bool = True) -> int:
    """Write the verdicts to ``output`` (Parquet, written atomically); returns the row count."""
    frame = feedback_frame(db, latest_only=latest_only)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(output)
    return len(frame)
