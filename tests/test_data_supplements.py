"""Training-only supplements: declared in the policy, built beside the splits, opt-in."""

from pathlib import Path

import pandas as pd
import pytest

from data.build import build, prepare
from data.policy import load_policy
from data.supplements import (
    chosen_supplements,
    load_supplement,
    supplement_candidates,
    supplement_path,
)
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
        '[supplements.x]\nlabel = "drugs"\nwhen_text = ["[a"]\n':
            r"\[supplements.x\]: when_text has an invalid regular expression",
        '[supplements.x]\nlabel = "benign"\nby_default = "yes"\n':
            r"\[supplements.x\]: by_default must be true or false",
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
    assert info["supplements"]["darknet-benign"]["by_default"] is True
    assert info["supplements"]["licensed-pharmacy"]["by_default"] is False
    assert supplement_path(tmp_path / "with", "darknet-benign").is_file()
    assert len(load_supplement(tmp_path / "with", "darknet-benign")) == 2
    card = (tmp_path / "with" / "README.md").read_text()
    assert "## Training-only supplements" in card
    assert "| `darknet-benign` | benign | 2 | yes |" in card
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


STOLEN_DATA = POLICY.supplement("darknet-stolen-data")
LAWFUL_GOODS = POLICY.supplement("darknet-lawful-goods")


@pytest.mark.parametrize(
    ("title", "kept"),
    [("10 x Verified Hacked PayPal Accounts", True), ("5 UK FULL CVV VISA/MASTERCARD/AMEX", True),
     ("1 US Visa Gold/Platinum dump", True), ("Netflix - Lifetime account for only 3$ !", True),
     # no stolen-data offer in the title
     ("Western Union transfer service", False), ("Bitcoin mixing", False),
     # guides, tools and look-alikes that only mention one
     ("How to cash out CVV", False), ("Account Creator Extreme 4.2", False),
     ("James Bond credit card 5pc lock pick set", False)],
)
def test_darknet_stolen_data_keeps_titles_that_offer_data(title, kept):
    assert STOLEN_DATA.candidate("agora-titles-2014-2015", "agora", "darkweb", "Services/Money")
    assert (not STOLEN_DATA.misses_title(title) and not STOLEN_DATA.rejects_text(title)) is kept


def test_when_text_reads_the_title_and_counts_what_it_leaves_out():
    frame = pd.DataFrame({
        "source": ["agora-titles-2014-2015"] * 3, "market": ["agora"] * 3,
        "kind": ["darkweb"] * 3, "category": ["Services/Money"] * 3,
        "title": ["UK CC with VBV", "Cash-out service", "How to use a CC"],
        # a description that mentions cards does not make a service stolen data
        "description": [None, "we cash out your cc and dumps", None], "label": [None] * 3,
    }).astype(object)
    rows, dropped = supplement_candidates(frame, POLICY, STOLEN_DATA)
    assert rows["title"].tolist() == ["UK CC with VBV"]
    assert set(rows["label"]) == {"stolen_data"}
    assert dropped == {"title matches no when_text pattern": 1,
                       "text matches an unless_text pattern": 1}
    # a supplement without when_text reports no such count
    assert "title matches no when_text pattern" not in supplement_candidates(
        frame, POLICY, DARKNET_BENIGN)[1]


@pytest.mark.parametrize(
    ("category", "title", "kept"),
    [("Drug paraphernalia/Grinders", "Aluminium 4 Parts Grinder - RED (UK Stock)", True),
     ("Tobacco/Smoked", "Marlboro Gold (10 packs x 20 cigarettes) EU Stock", True),
     ("Drug paraphernalia/Pipes", "Glass pipe + 1g OG Kush", False),
     ("Drug paraphernalia/Scales", "RC Starter Kit - Milligram Scale and One Chemical Sample",
      False),
     ("Drugs/Cannabis/Weed", "Silver Metal Grinder", False)],
)
def test_darknet_lawful_goods_leaves_out_rows_naming_a_drug(category, title, kept):
    candidate = LAWFUL_GOODS.candidate("agora-titles-2014-2015", "agora", "darkweb", category)
    assert (candidate and not LAWFUL_GOODS.rejects_text(title)) is kept


def test_training_uses_the_policy_defaults_unless_told_otherwise():
    info = {"supplements": {"a": {"by_default": True}, "b": {"by_default": False},
                            "c": {"by_default": True}, "old": {}}}
    assert chosen_supplements(None, info) == ("a", "c")
    assert chosen_supplements((), info) == ()
    assert chosen_supplements(["b"], info) == ("b",)
    assert chosen_supplements(None, {}) == ()  # a dataset built before supplements existed
    assert [s.name for s in POLICY.supplements if s.by_default] == [
        "darknet-benign", "darknet-lawful-goods", "darknet-stolen-data"]
