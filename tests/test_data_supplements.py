"""Training-only supplements: declared in the policy, built beside the splits, opt-in."""

from pathlib import Path

import pandas as pd
import pytest

from data.build import build, prepare
from data.policy import load_policy
from data.supplements import load_supplement, supplement_candidates, supplement_path
from tests.raw_fixture import raw_frame, with_supplement_candidates

POLICY = load_policy()
DARKNET_BENIGN = POLICY.supplement("darknet-benign")


@pytest.mark.parametrize(
    ("category", "expected"),
    [("Electronics", True), ("Jewelry", True), ("Info/eBooks/Science", True),
     ("Info/eBooks/Drugs", False), ("Info/eBooks/Making money", False),
     ("Drugs/Cannabis/Weed", False), (None, False)],
)
def test_darknet_benign_takes_the_categories_labels_md_allows(category, expected):
    assert DARKNET_BENIGN.candidate("agora-titles-2014-2015", "agora", "darkweb",
                                    category) is expected
    assert not DARKNET_BENIGN.candidate("cypher-2020-09-17", "cypher", "darkweb", category)


@pytest.mark.parametrize(
    ("text", "rejected"),
    [("Apple iPhone 6 64GB gold", False), ("Weight Training For Dummies", False),
     ("Cartier Love Bracelet Replica", True), ("FRESH EASY CARDABLES WEBSITES LIST", True),
     ("Psilocybin Magic Mushroom Grower's Guide", True), ("Custom listing for ace", True),
     ("Anonymous Sim Card (Registered & Activated!!)", True)],
)
def test_darknet_benign_cleaning_leaves_out_illicit_offers(text, rejected):
    assert DARKNET_BENIGN.rejects_text(text) is rejected


def test_supplement_mistakes_name_the_table(tmp_path: Path):
    base = '[policy]\nclasses = ["benign", "drugs"]\n[[rules]]\nkinds = ["surface"]\n' \
           'label = "benign"\n'
    cases = {
        '[supplements.x]\nlabel = "benign"\nwhere = "y"\n': r"\[supplements.x\]: unknown field",
        '[supplements.x]\nlabel = "weapons"\n': r"\[supplements.x\]: label 'weapons'",
        '[supplements.x]\nlabel = "benign"\nunless_text = ["("]\n': "invalid regular expression",
        '[supplements.x]\nlabel = "benign"\nunless_text = "a"\n': "must be a list of strings",
        '[supplements.Bad_Name]\nlabel = "benign"\n': "lower-case letters",
    }
    for i, (table, message) in enumerate(cases.items()):
        path = tmp_path / f"p{i}.toml"
        path.write_text(base + table)
        with pytest.raises(ValueError, match=message):
            load_policy(path)
    with pytest.raises(KeyError, match="has no supplement 'nope'"):
        POLICY.supplement("nope")


def test_supplement_rows_are_clean_and_never_touch_the_splits():
    raw = raw_frame()
    plain, _, _ = prepare(raw, POLICY)
    eval_title = plain["validation"]["title"].iloc[0]
    splits, book, supplements = prepare(with_supplement_candidates(raw, eval_title), POLICY)
    for name, frame in plain.items():  # the splits are the same rows, in the same order
        pd.testing.assert_frame_equal(frame, splits[name])
    rows = supplements["darknet-benign"]
    assert sorted(rows["title"]) == ["Kindle Fire HDX 8.9", "iPhone 6 64gb gold"]
    assert set(rows["label"]) == {"benign"}
    assert rows["text"].iloc[0]  # prepared like the splits' text
    dropped = book["supplements"]["darknet-benign"]["dropped"]
    assert dropped["text matches an unless_text pattern"] == 2
    assert dropped["exact duplicate (same title, same vendor or shop)"] == 1
    assert dropped["vendor or cluster found in an evaluation split"] == 1
    assert book["supplements"]["darknet-benign"]["rows"] == 2


def test_build_writes_the_supplement_and_keeps_the_fingerprint(tmp_path: Path):
    tables = tmp_path / "tables"
    tables.mkdir()
    raw_frame().drop(columns=["label"]).to_parquet(tables / "fixture.parquet")
    plain = build(tables, tmp_path / "plain")
    raw = raw_frame()
    eval_title = prepare(raw, POLICY)[0]["test"]["title"].iloc[0]
    with_supplement_candidates(raw, eval_title).drop(columns=["label"]).to_parquet(
        tables / "fixture.parquet")
    info = build(tables, tmp_path / "with")
    assert info["fingerprint"] == plain["fingerprint"]  # the splits did not move
    assert info["supplements"]["darknet-benign"]["rows"] == 2
    assert supplement_path(tmp_path / "with", "darknet-benign").is_file()
    assert len(load_supplement(tmp_path / "with", "darknet-benign")) == 2
    card = (tmp_path / "with" / "README.md").read_text()
    assert "## Training-only supplements" in card and "| `darknet-benign` | benign | 2 |" in card
    with pytest.raises(ValueError, match=r"has no supplement 'nope'.*rebuild"):
        load_supplement(tmp_path / "with", "nope")


def test_a_row_with_its_own_label_is_never_a_supplement_candidate():
    frame = pd.DataFrame({
        "source": ["mine", "mine"], "market": ["agora", "agora"], "kind": ["darkweb"] * 2,
        "category": ["Electronics", "Electronics"], "title": ["iPad Air 64GB", "iPad mini"],
        "description": [None, None], "label": [None, "benign"],
    }).astype(object)
    rows, _ = supplement_candidates(frame.where(frame.notna(), None), POLICY, DARKNET_BENIGN)
    assert rows["title"].tolist() == ["iPad Air 64GB"]
