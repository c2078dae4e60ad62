"""``contraband data build``: raw source tables → labelled, de-duplicated, split dataset."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from data.card import render_card
from data.clean import (
    GIVEN_LABEL,
    apply_policy,
    clean_text,
    recover_vendors,
    strip_repost_markers,
)
from data.dataset import CARD_FILE, INFO_FILE
from data.dedup import assign_groups, deduplicate
from data.policy import LabelPolicy, load_policy
from data.sources import UserTable, load_sources
from data.split import SPLITS, shared_groups, split
from data.supplements import (
    evaluation_guards,
    finish_supplement,
    supplement_candidates,
    supplement_path,
)
from model.bundle import sha256_file, write_json_atomic
from model.text import listing_text

log = logging.getLogger(__name__)
OUTPUT_COLUMNS = ["uid", "text", "title", "description", "label", "source", "market", "kind",
                  "vendor", "group", "category", "date"]


def _uid(row: tuple) -> str:
    return hashlib.sha1("\x1f".join("" if v is None else v for v in row).encode()).hexdigest()[:16]


def _with_uids(frame: pd.DataFrame) -> pd.DataFrame:
    """Give each row a content id and sort by it: the order every later step relies on."""
    frame = frame.copy()
    frame["uid"] = [
        _uid(r) for r in frame[["source", "vendor", "title", "description", "category"]]
        .itertuples(index=False)
    ]
    return frame.sort_values(["uid"], kind="stable").reset_index(drop=True)


def _with_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the model input (``title | description prefix``) the splits carry as ``text``."""
    frame = frame.copy()
    frame["text"] = [
        listing_text(t, d) for t, d in zip(frame["title"], frame["description"], strict=True)
    ]
    return frame


def _relabelled(rows: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """The rows whose uid ``labels`` holds, with that label (the others were excluded)."""
    rows = rows.loc[rows["uid"].isin(labels.keys())].reset_index(drop=True)
    return rows.assign(label=rows["uid"].map(labels))


def prepare(
    raw: pd.DataFrame, policy: LabelPolicy
) -> tuple[dict[str, pd.DataFrame], dict[str, Any], dict[str, pd.DataFrame]]:
    """The pure part of the build: the splits, the bookkeeping for the card, and the
    training-only supplements the policy declares (see :mod:`data.supplements`)."""
    dropped: dict[str, dict[str, int]] = {}
    frame, dropped["clean"] = clean_text(raw)
    frame, repost_markers = strip_repost_markers(frame)
    frame, recovered = recover_vendors(frame)
    candidates = {s.name: supplement_candidates(frame, policy, s) for s in policy.supplements}
    frame, dropped["label policy"] = apply_policy(frame, policy, read_titles=False)
    frame = _with_uids(frame)
    frame, dropped["de-duplication"] = deduplicate(frame)
    frame["group"] = assign_groups(frame)
    frame = _with_text(frame)
    # Rules that read the title are applied after the rows are split: they clean labels
    # (a "custom listing for J***y" filed under Drugs) and must not move a vendor to
    # another split, so figures stay comparable across policy revisions.
    by_title, dropped["label policy, by title (after splitting)"] = apply_policy(
        frame.assign(label=frame[GIVEN_LABEL]), policy)
    labels = dict(zip(by_title["uid"], by_title["label"], strict=True))
    splits = {name: _relabelled(rows, labels)[OUTPUT_COLUMNS]
              for name, rows in split(frame, policy.splits).items()}
    supplements, supplement_info = {}, {}
    guards = evaluation_guards(splits) if candidates else (set(), set())
    for name, (rows, text_dropped) in candidates.items():
        rows, finish_dropped = finish_supplement(_with_uids(rows), *guards)
        supplements[name] = _with_text(rows)[OUTPUT_COLUMNS]
        supplement_info[name] = {"rows": len(supplements[name]),
                                 "label": policy.supplement(name).rule.label,
                                 "by_default": policy.supplement(name).by_default,
                                 "dropped": {**text_dropped, **finish_dropped}}
    bookkeeping = {
        "rows_read": len(raw),
        "rows_kept": len(by_title),
        "dropped": dropped,
        "vendors_recovered": recovered,
        "repost_markers_removed": repost_markers,
        "shared_groups": len(shared_groups(splits)),
        "supplements": supplement_info,
    }
    return splits, bookkeeping, supplements


def _write_split(frame: pd.DataFrame, path: Path) -> None:
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()

    Dataset.from_pandas(frame, preserve_index=False).to_parquet(str(path))


def build(
    data_dir: Path,
    out_dir: Path,
    *,
    policy_path: str | Path | None = None,
    user_tables: list[UserTable] = (),
    name: str | None = None,
) -> dict[str, Any]:
    """Build the dataset into ``out_dir`` (replaced atomically) and return its info."""
    policy = load_policy(policy_path)
    raw, read_per_source = load_sources(Path(data_dir), list(user_tables))
    log.info("read %d rows from %d sources", len(raw), len(read_per_source))
    splits, bookkeeping, supplements = prepare(raw, policy)

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        for split_name in SPLITS:
            _write_split(splits[split_name], tmp / f"{split_name}.parquet")
        files = {f"{s}.parquet": sha256_file(tmp / f"{s}.parquet") for s in SPLITS}
        for supplement_name, rows in supplements.items():
            path = supplement_path(tmp, supplement_name)
            _write_split(rows, path)
            bookkeeping["supplements"][supplement_name]["sha256"] = sha256_file(path)
        fingerprint = hashlib.sha256(
            "".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()
        ).hexdigest()
        info = {
            "name": name or out_dir.name,
            "data_dir": str(data_dir),
            "labels": list(policy.labels.names),
            "negative_label": policy.labels.negative,
            "policy": {"name": policy.name, "sha256": policy.sha256, "path": policy.path},
            "splits_settings": {
                "out_of_time_markets": list(policy.splits.out_of_time_markets),
                "held_out_sources": list(policy.splits.held_out_sources),
                "validation_fraction": policy.splits.validation_fraction,
                "test_fraction": policy.splits.test_fraction,
                "seed": policy.splits.seed,
            },
            "splits": {s: len(splits[s]) for s in SPLITS},
            "files": files,
            "fingerprint": fingerprint,
            "rows_read_per_source": read_per_source,
            "user_tables": [str(t.path) for t in user_tables],
            **bookkeeping,
        }
        write_json_atomic(tmp / INFO_FILE, info)
        (tmp / CARD_FILE).write_text(render_card(info, splits), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info
