"""Reading source tables: the shared listing tables and researchers' own files.

Every table is brought to the common columns of the shared data (``COLUMNS``). A user table
maps its own column names onto these; the ones it lacks are filled with nulls, and an
optional ``label`` column (e.g. moderators' feedback) bypasses the label policy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

COLUMNS = ["source", "market", "kind", "date", "vendor", "title", "description", "category"]
MAPPABLE = ["title", "description", "category", "vendor", "market", "date", "label"]
DEFAULT_DATA_DIR = "../shared/datasets"


class NoDataError(FileNotFoundError):
    """No source table was found where the pipeline looked."""


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The shared data folder: ``override``, else ``$CONTRABAND_DATA``, else ../shared/datasets."""
    return Path(override or os.environ.get("CONTRABAND_DATA") or DEFAULT_DATA_DIR)


def find_tables(root: Path) -> list[Path]:
    """Every Parquet table under ``root``, in a stable order."""
    if not root.is_dir():
        raise NoDataError(
            f"no data folder at {root.resolve()}. Set CONTRABAND_DATA to the folder that holds "
            "the listing tables (see README: 'Data'), or pass --data-dir."
        )
    tables = sorted(root.rglob("*.parquet"))
    if not tables:
        raise NoDataError(
            f"{root.resolve()} holds no .parquet tables. Set CONTRABAND_DATA to the folder that "
            "holds the listing tables (see README: 'Data'), or pass --data-dir."
        )
    return tables


def read_shared_table(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {COLUMNS}")
    return _as_common(frame[COLUMNS].copy())


@dataclass(frozen=True)
class UserTable:
    """A researcher's file and how its columns map onto ours."""

    path: Path
    source: str
    mapping: Mapping[str, str] = field(default_factory=dict)  # ours -> theirs
    kind: str = "darkweb"
    market: str | None = None

    def __post_init__(self) -> None:
        bad = set(self.mapping) - set(MAPPABLE)
        if bad:
            raise ValueError(f"cannot map {sorted(bad)}; mappable columns are {MAPPABLE}")
        if self.kind not in ("darkweb", "surface"):
            raise ValueError(f"kind must be 'darkweb' or 'surface', got {self.kind!r}")


def parse_mapping(text: str) -> dict[str, str]:
    """Parse ``title=name,description=body`` into ``{"title": "name", ...}``."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise ValueError(f"bad column mapping {part!r}; write ours=theirs, e.g. title=name")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def read_any(path: Path) -> pd.DataFrame:
    """Read a CSV, JSONL (optionally .gz) or Parquet file as strings."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".json")):
        return pd.read_json(path, lines=True, dtype=False)
    raise ValueError(f"{path}: unsupported format; use .csv, .jsonl(.gz) or .parquet")


def read_user_table(table: UserTable) -> pd.DataFrame:
    raw = read_any(table.path)
    columns = {ours: table.mapping.get(ours, ours) for ours in MAPPABLE}
    if columns["title"] not in raw.columns:
        raise ValueError(
            f"{table.path}: no title column {columns['title']!r}; columns are "
            f"{list(raw.columns)}. Map one with --map title=COLUMN"
        )
    out = pd.DataFrame(index=raw.index)
    for ours, theirs in columns.items():
        explicit = ours in table.mapping
        if theirs in raw.columns:
            out[ours] = raw[theirs]
        elif explicit:
            raise ValueError(f"{table.path}: mapped column {theirs!r} (for {ours}) not found")
        else:
            out[ours] = None
    out["source"] = table.source
    out["kind"] = table.kind
    if table.market is not None:
        out["market"] = table.market
    out["market"] = out["market"].fillna(table.source)
    frame = _as_common(out[[*COLUMNS, "label"]])
    frame["label"] = frame["label"].astype("object").where(frame["label"].notna(), None)
    return frame


def _as_common(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain Python-object string columns with None for missing (stable across pandas)."""
    for column in frame.columns:
        values = frame[column].astype("object")
        frame[column] = pd.Series(
            [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values],
            index=frame.index, dtype=object,
        )
    return frame.reset_index(drop=True)


def load_sources(root: Path, user_tables: list[UserTable] = ()) -> tuple[pd.DataFrame, dict]:
    """All tables as one frame, plus rows read per source."""
    frames = [read_shared_table(p) for p in find_tables(root)]
    frames += [read_user_table(t) for t in user_tables]
    frame = pd.concat(frames, ignore_index=True)
    if "label" not in frame.columns:
        frame["label"] = None
    counts = frame.groupby("source", sort=True).size().to_dict()
    return frame, {k: int(v) for k, v in counts.items()}
