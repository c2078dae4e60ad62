"""Where built datasets live and how to read them back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from model.labels import LabelSet

DEFAULT_DATASET_DIR = "artifacts/data/default"
INFO_FILE = "dataset_info.json"
CARD_FILE = "README.md"


def dataset_dir(override: str | os.PathLike | None = None) -> Path:
    """The built dataset: ``override``, else ``$CONTRABAND_DATASET``, else the default."""
    return Path(override or os.environ.get("CONTRABAND_DATASET") or DEFAULT_DATASET_DIR)


def read_info(path: str | os.PathLike) -> dict[str, Any]:
    info_path = Path(path) / INFO_FILE
    if not info_path.is_file():
        raise FileNotFoundError(
            f"no built dataset at {Path(path)} (missing {INFO_FILE}); run `contraband data build`"
        )
    return json.loads(info_path.read_text(encoding="utf-8"))


def labels_of(path: str | os.PathLike) -> LabelSet:
    info = read_info(path)
    return LabelSet.from_names(info["labels"], info["negative_label"])


def load_splits(
    path: str | os.PathLike, splits: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Read the split Parquet files as pandas frames (all splits unless named)."""
    info = read_info(path)
    names = splits or list(info["splits"])
    frames = {}
    for name in names:
        file = Path(path) / f"{name}.parquet"
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing; rebuild with `contraband data build`")
        frames[name] = pd.read_parquet(file)
    return frames


def load_hf(path: str | os.PathLike):
    """The dataset as a Hugging Face ``DatasetDict`` (imports ``datasets`` lazily)."""
    from datasets import load_dataset

    info = read_info(path)
    files = {name: str(Path(path) / f"{name}.parquet") for name in info["splits"]}
    return load_dataset("parquet", data_files=files)
