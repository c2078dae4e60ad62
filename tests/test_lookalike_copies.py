"""Short copies of the train split's lawful look-alikes (``training.lookalike_copies``)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from data.dataset import load_splits
from model import Classifier
from model.text import listing_text
from tests.training_support import build_fixture_dataset, record_fitted_texts
from training.baseline import BaselineOptions, train_baseline
from training.lookalike_copies import lookalike_copies, short_titles

KNIFE = re.compile(r"(?i)\bknife\b")
OPTIONS = BaselineOptions(calibration_folds=2, n_features=2**14, cue_min_rows=2)


def test_short_titles_are_the_look_alike_word_in_its_context():
    assert short_titles("Pointed Knife 10 cm 3 Rivet Handle", [KNIFE]) == ["Pointed Knife 10"]
    assert short_titles("6 piece J.A Henckels knife set", [KNIFE]) == ["Henckels knife set"]
    assert short_titles("Knife - Dicing", [KNIFE]) == ["Knife -"]
    assert short_titles("Knife, knife", [KNIFE]) == ["Knife, knife"]
    assert short_titles("Garden hose", [KNIFE]) == [] and short_titles("Knife") == []


def frame(rows):
    return pd.DataFrame(rows, columns=["uid", "title", "label", "kind", "source", "category",
                                       "group"])


def test_only_lawful_shop_look_alikes_are_copied():
    train = frame([
        ("u1", "Chef Knife - Dicing", "benign", "surface", "shop", None, "g1"),
        ("u2", "Garden hose 50ft green", "benign", "surface", "shop", None, "g2"),
        ("u3", "Butterfly Knife black", "weapons", "darkweb", "agora", None, "g3"),
        ("u4", "Whey protein 2kg chocolate", "benign", "surface", "shop", None, "g4"),
        ("u5", "Chef Knife - Paring", "benign", "surface", "shop", None, "g5"),
    ])
    copies = lookalike_copies(train, "benign", 2, 400)
    shorts = ["Chef Knife -", "Whey protein"]
    assert copies["text"].tolist() == [listing_text(s, None, 400) for s in shorts] * 2
    assert set(copies["label"]) == {"benign"}
    # a short title two rows share keeps the first row's group
    assert copies["group"].tolist() == ["g1", "g4"] * 2
    assert lookalike_copies(train, "benign", 0, 400).empty
    with pytest.raises(ValueError, match="0 or more"):
        lookalike_copies(train, "benign", -1, 400)
    with pytest.raises(ValueError, match="0 or more"):
        BaselineOptions(lookalike_copies=-1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return build_fixture_dataset(tmp_path_factory.mktemp("lookalike-data"))


def test_copies_are_trained_on_and_never_made_of_excluded_rows(dataset, tmp_path, monkeypatch):
    """The suite's cross-fit leaves rows out before the copies are made: no copy of a row it
    scores may reach the fit."""
    train = load_splits(dataset, ["train"])["train"]
    lawful_knives = train[train["title"].str.contains(KNIFE) & train["label"].eq("benign")]
    assert len(lawful_knives)
    fitted = record_fitted_texts(monkeypatch)
    options = replace(OPTIONS, lookalike_copies=3)
    kept = train_baseline(dataset, tmp_path, options, name="kept", make_default=False)
    train_baseline(dataset, tmp_path, options, name="left", make_default=False,
                   exclude_groups=set(lawful_knives["group"]))
    knife_shorts = {listing_text(s, None, options.max_description_chars)
                    for t in lawful_knives["title"] for s in short_titles(t, [KNIFE])
                    if KNIFE.search(s)}
    assert knife_shorts
    assert all(fitted[0].count(s) >= 3 for s in knife_shorts)
    assert not knife_shorts & set(fitted[1])
    assert Classifier.load(kept).config["dataset"]["lookalike_copies"] > 0
    assert "short copies of the lawful look-alikes" in (kept / "README.md").read_text()
    recorded = Classifier.load(kept).config["training"]["options"]["lookalike_copies"]
    assert recorded == 3
    assert BaselineOptions.of_bundle(Classifier.load(kept).config).lookalike_copies == 3
