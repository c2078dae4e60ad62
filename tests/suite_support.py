"""A tiny built dataset (all five splits, several markets) for the evaluation-suite tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from model.text import listing_text
from tests.fixtures import LISTINGS

LABELS = ["benign", "drugs", "weapons", "counterfeit", "stolen_data"]

# Which illicit classes each dark-web market sells (benign rows come from the shops).
MARKETS = {"alpha": ("drugs", "weapons"), "beta": ("drugs", "counterfeit"),
           "gamma": ("drugs", "stolen_data")}
SHOPS = ("shopa", "shopb", "shopc")


def tiny_rows() -> pd.DataFrame:
    """Every fixture listing, once per market that sells its class, with made-up vendors."""
    rows = []
    for market, classes in MARKETS.items():
        for label in classes:
            for i, title in enumerate(LISTINGS[label]):
                rows.append((title, label, market, "darkweb", f"{market}-v{i % 7}"))
    for k, title in enumerate(LISTINGS["benign"] * 3):
        shop = SHOPS[k % len(SHOPS)]
        rows.append((title, "benign", shop, "surface", f"{shop}-{k}"))
    frame = pd.DataFrame(rows, columns=["title", "label", "market", "kind", "vendor"])
    descriptions = [("with a description" if i % 4 == 0 else None) for i in range(len(frame))]
    frame["text"] = [listing_text(t, d) for t, d in zip(frame["title"], descriptions,
                                                         strict=True)]
    frame["description"] = descriptions
    frame["source"] = frame["market"] + "-src"
    frame["group"] = "vendor:" + frame["vendor"]
    frame["category"] = ""
    frame["date"] = "2020-01-01"
    frame["uid"] = [f"u{i}" for i in range(len(frame))]
    return frame


def write_tiny_dataset(root: Path) -> Path:
    """Splits: gamma is the "2020" market (oot), shopc the held-out shop (cross_market)."""
    frame = tiny_rows()
    oot = frame[frame["market"] == "gamma"]
    held_shop = frame[frame["market"] == "shopc"]
    rest = frame[~frame["market"].isin(["gamma", "shopc"])]
    # vendor-disjoint train / validation / test by the vendor number
    number = rest["vendor"].str.extract(r"(\d+)$")[0].astype(int) % 5
    splits = {
        "train": rest[number <= 2], "validation": rest[number == 3], "test": rest[number == 4],
        "oot": oot, "cross_market": pd.concat([oot, held_shop]),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, split in splits.items():
        split.reset_index(drop=True).to_parquet(root / f"{name}.parquet")
    info = {"name": "tiny", "fingerprint": "0" * 64, "labels": LABELS,
            "negative_label": "benign", "splits": list(splits)}
    (root / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    return root
