"""Each obfuscation does what it says, is reproducible, and normalisation undoes what it can."""

import random

import pandas as pd
import pytest

from model.text import normalise
from training.augment import AUGMENTATIONS, augment_training_rows
from training.suite import perturb
from training.suite.perturb import PERTURBATIONS, perturb_listing

TEXT = "Cocaine 1g 90% pure, stealth shipping worldwide"


def run(name: str, text: str = TEXT, seed: int = 0) -> str:
    return PERTURBATIONS[name](text, random.Random(seed))


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_every_perturbation_changes_text_and_is_seeded(name):
    assert run(name) != TEXT
    assert run(name, seed=3) == run(name, seed=3)


def test_homoglyph_table_round_trips_through_normalise():
    for latin, lookalikes in perturb.HOMOGLYPHS.items():
        for char in lookalikes:
            assert normalise(f"x{char}x") == f"x{latin}x", (latin, hex(ord(char)))


def test_homoglyph_text_normalises_back_and_uses_other_scripts():
    text = run("homoglyphs")
    assert not text.isascii()
    assert normalise(text) == normalise(TEXT)


def test_zero_width_is_invisible_after_normalise():
    text = run("zero_width")
    assert any(c in text for c in perturb.ZERO_WIDTH)
    assert normalise(text) == TEXT


@pytest.mark.parametrize("spaced", ["c o k e", "c.o.k.e", "c-o-k-e", "c_o_k_e", "c*o*k*e"])
def test_spelled_out_words_are_joined(spaced):
    assert normalise(f"pure {spaced}  1g") == "pure coke 1g"


def test_spacing_perturbation_normalises_back():
    text = "Cocaine pure stealth shipping"
    for seed in range(20):
        assert normalise(run("spacing", text, seed)) == text


def test_short_abbreviations_and_numbers_are_not_joined():
    assert normalise("U.S. size 1.5 g") == "U.S. size 1.5 g"
    assert normalise("AK-47 and 9 mm") == "AK-47 and 9 mm"


def test_leetspeak_inside_words_is_undone_but_codes_are_kept():
    assert normalise("c0ca1ne and w33d, x4n4x") == "cocaine and weed, xanax"
    for kept in ("4-MMC", "2C-B", "MP3 player", "ak47", "B12 vitamin", "4x4 truck"):
        assert normalise(kept) == kept


def test_unambiguous_leetspeak_at_word_edges_is_undone():
    assert normalise("Coc4in3 st3al7h $h1pp1ng w0rldw1d3") == "Cocaine stealth shipping worldwide"
    assert normalise("0xyc0nt1n 80mg, hell0") == "oxycontin 80mg, hello"
    for kept in ("$350 obo", "Xbox 360", "Galaxy S3", "Windows 10", "win10", "$$$ cash",
                 "1x 0.5g", "Model 3", "ps3 games"):
        assert normalise(kept) == kept


def test_leetspeak_uses_leet_characters():
    text = run("leetspeak", "cocaine ecstasy")
    assert any(c in text for c in "0134579@$")


def test_decoration_is_stripped():
    text = run("decoration", "MDMA crystal")
    assert text != "MDMA crystal"
    assert normalise("★★ MDMA 🔥 crystal ★★") == "MDMA crystal"
    assert normalise("【MDMA】 ✅") == "MDMA"


def test_case_typos_and_boilerplate():
    assert run("case").lower() == TEXT.lower()
    typo = run("typos")
    assert typo != TEXT and abs(len(typo) - len(TEXT)) <= 10
    assert TEXT in run("boilerplate")


def test_perturb_listing_keeps_missing_description_and_frames_title_only():
    rng = random.Random(0)
    assert perturb_listing("Glock 19", None, "leetspeak", rng)[1] is None
    title, body = perturb_listing("Glock 19", "two mags", "boilerplate", rng)
    assert body == "two mags" and title != "Glock 19"
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb_listing("x", None, "rot13", rng)


def test_augmentation_rows_keep_label_and_group():
    frame = pd.DataFrame({
        "text": [f"listing number {i} | some description" for i in range(50)],
        "label": ["drugs", "benign"] * 25,
        "group": [f"g{i}" for i in range(50)],
    })
    extra = augment_training_rows(frame, seed=1, fraction=0.4)
    assert 10 <= len(extra) <= 20 and list(extra.columns) == ["text", "label", "group"]
    source = dict(zip(frame["group"], frame["label"], strict=True))
    assert all(source[g] == label for g, label in zip(extra["group"], extra["label"],
                                                      strict=True))
    assert not set(extra["text"]) & set(frame["text"])
    assert extra.equals(augment_training_rows(frame, seed=1, fraction=0.4))
    assert augment_training_rows(frame, seed=1, fraction=0.0).empty
    # every training perturbation is a known one; typos, which nothing undoes, weigh double
    assert set(AUGMENTATIONS) <= set(PERTURBATIONS)
    assert AUGMENTATIONS.count("typos") == 2
    with pytest.raises(ValueError, match="columns"):
        augment_training_rows(frame[["text"]], seed=0, fraction=0.1)


def test_register_copies_restyle_only_the_negative_class_and_keep_groups():
    import pandas as pd

    from training.register import informal, register_copies

    frame = pd.DataFrame({
        "text": ["Samsung Galaxy S4 16GB | unlocked", "Cotton bath towel", "Cocaine 1g pure"],
        "label": ["benign", "benign", "drugs"],
        "group": ["g1", "g2", "g3"],
    })
    copies = register_copies(frame, label="benign", fraction=2.0, seed=0)
    assert len(copies) == 4
    assert set(copies["label"]) == {"benign"}
    assert set(copies["group"]) <= {"g1", "g2"}
    for text, group in zip(copies["text"], copies["group"], strict=True):
        original = frame.loc[frame["group"] == group, "text"].item()
        assert text != original
        # the listing's first words survive, in order, and the description is kept as is
        assert original.split(" | ")[0].lower().split()[0] in text.lower()
        if " | " in original:
            assert text.endswith(" | unlocked")
    assert register_copies(frame, label="benign", fraction=0.0, seed=0).empty
    # a restyled title never contains the title | description separator
    rng = random.Random(3)
    assert all(" | " not in informal("Rolex watch", rng) for _ in range(200))
    # some copies are cut to a short heading, some set in a sentence frame
    long_title = "Apple iPhone 12 Pro 128GB Graphite Unlocked Dual SIM"
    restyled = [informal(long_title, rng) for _ in range(300)]
    assert any(r.split()[-1].lower() in {"apple", "iphone", "12", "pro"} for r in restyled)
    assert any(r.lower().startswith("selling my ") for r in restyled)


def test_small_class_copies_fill_scarce_classes_up_to_the_floor_and_three_per_row():
    from training.augment import small_class_copies

    frame = pd.DataFrame({
        "text": [f"cocaine {i}g pure uncut" for i in range(100)]
        + [f"glock {i} pistol with two mags" for i in range(10)],
        "label": ["drugs"] * 100 + ["weapons"] * 10,
        "group": [f"g{i}" for i in range(110)],
    })
    extra = small_class_copies(frame, seed=0, fraction=0.5, floor=60)
    counts = extra["label"].value_counts().to_dict()
    # drugs: 50 copies from the fraction already, 10 more to reach 60; weapons: capped at
    # three per row (30), less the 5 the fraction gives. A copy that normalises back to its
    # source is dropped, so a few may be missing, never more than asked for.
    assert set(counts) == {"drugs", "weapons"}
    assert 7 <= counts["drugs"] <= 10 and 20 <= counts["weapons"] <= 25
    assert set(extra["group"]) <= set(frame["group"])
    for text, group in zip(extra["text"], extra["group"], strict=True):
        assert text != frame.loc[frame["group"] == group, "text"].item()
    assert small_class_copies(frame, seed=0, fraction=0.5, floor=0).empty
    with pytest.raises(ValueError, match="floor"):
        small_class_copies(frame, seed=0, fraction=0.5, floor=-1)
