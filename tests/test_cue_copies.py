import pandas as pd
import pytest

from training.baseline import BaselineOptions
from training.cue_copies import CueCopyOptions, cue_copies, cue_words

OPTIONS = CueCopyOptions(words_per_class=2, precision=0.9, min_rows=3)


def _frame() -> pd.DataFrame:
    rows = (
        [("counterfeit", f"v{i % 2}", f"Counterfeit €{i}0 notes x{i}", "Fake notes, pass UV")
         for i in range(1, 5)]
        + [("counterfeit", "v2", "Rolex replica Datejust", None)] * 3
        + [("counterfeit", "v3", "Counterfeit", None)]  # nothing left once deleted
        + [("drugs", "v4", f"MDMA {i}g crystals", None) for i in range(1, 5)]
        + [("benign", "shop", f"post-it notes pack {i}", None) for i in range(6)]
        + [("benign", "shop", "fake plant", None)]
    )
    return pd.DataFrame(rows, columns=["label", "group", "title", "description"])


def test_cue_words_are_frequent_and_held_by_their_class():
    frame = _frame()
    cues = cue_words(frame["title"], frame["label"], "benign", OPTIONS)
    # "counterfeit" is in 5 counterfeit titles and no other; "notes" is shared with shop
    # titles and "fake" is too rare; "replica" (3) ties "datejust" and "rolex", alphabetical
    assert cues == {"counterfeit": ["counterfeit", "datejust"], "drugs": ["crystals", "mdma"]}
    assert "benign" not in cues
    wider = CueCopyOptions(words_per_class=5, precision=0.9, min_rows=3)
    assert cue_words(frame["title"], frame["label"], "benign", wider)["counterfeit"] == [
        "counterfeit", "datejust", "replica", "rolex"]  # never "notes": 6 of its 10 are shop
    loose = CueCopyOptions(words_per_class=5, precision=0.55, min_rows=3)
    assert "notes" not in cue_words(frame["title"], frame["label"], "benign", loose)[
        "counterfeit"]


def test_copies_delete_the_cue_words_and_keep_label_and_group():
    frame = _frame()
    copies, cues = cue_copies(frame, "benign", OPTIONS, seed=0)
    assert cues["counterfeit"] == ["counterfeit", "datejust"]
    counterfeit = copies[copies["label"] == "counterfeit"]
    assert counterfeit["title"].tolist() == ["€10 notes x1", "€20 notes x2", "€30 notes x3",
                                             "€40 notes x4", "Rolex replica", "Rolex replica",
                                             "Rolex replica"]
    assert counterfeit["group"].tolist() == ["v1", "v0", "v1", "v0", "v2", "v2", "v2"]
    assert counterfeit["description"].tolist()[:4] == ["Fake notes, pass UV"] * 4
    assert counterfeit["description"].isna().tolist()[4:] == [True] * 3
    # every drugs title held both cue words; "4g" alone is one word: too little to keep
    assert copies[copies["label"] == "drugs"].empty
    assert (copies["label"] != "benign").all()
    again, _ = cue_copies(frame, "benign", OPTIONS, seed=0)
    assert again.equals(copies)


def test_a_class_with_many_cued_rows_gets_a_sample_of_copies():
    frame = _frame()
    capped = CueCopyOptions(words_per_class=2, precision=0.9, min_rows=3,
                            max_copies_per_class=2)
    copies, _ = cue_copies(frame, "benign", capped, seed=0)
    assert (copies["label"] == "counterfeit").sum() <= 2
    other, _ = cue_copies(frame, "benign", capped, seed=5)
    assert set(copies["title"]) | set(other["title"]) <= {
        "€10 notes x1", "€20 notes x2", "€30 notes x3", "€40 notes x4", "Rolex replica"}


def test_no_cue_words_means_no_copies_and_bad_settings_are_refused():
    copies, cues = cue_copies(_frame(), "benign", CueCopyOptions(words_per_class=0), seed=0)
    assert copies.empty and cues == {}
    with pytest.raises(ValueError, match=r"need columns \['group'\]"):
        cue_copies(_frame().drop(columns=["group"]), "benign", OPTIONS, seed=0)
    with pytest.raises(ValueError, match="precision must be within"):
        BaselineOptions(cue_precision=0.3)
    with pytest.raises(ValueError, match="cue words per class must be >= 0"):
        BaselineOptions(cue_words=-1)
