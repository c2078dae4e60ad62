import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from data.build import build, prepare
from data.clean import strip_repost_markers
from data.dataset import labels_of, load_splits, read_info
from data.dedup import cluster_key, deduplicate, near_key
from data.policy import load_policy
from data.sources import NoDataError, UserTable, parse_mapping, read_user_table
from data.split import shared_groups
from tests.raw_fixture import raw_frame

POLICY = load_policy()


def test_near_key_ignores_case_space_and_punctuation():
    assert near_key("1G  Cocaine - 90%") == near_key("1g cocaine 90 %")
    assert near_key("1g cocaine") != near_key("2g cocaine")
    assert cluster_key("Amazon Gift Card $25") == cluster_key("amazon gift card $50")


def test_deduplicate_drops_exact_and_near_and_conflicts():
    frame = pd.DataFrame({
        "title": ["5g MDMA", "5G  mdma", "5g mdma!", "glock 19", "Glock-19", "x"],
        "vendor": ["a", "a", "b", "c", "d", None],
        "source": ["s"] * 6,
        "description": [None, None, "body", None, None, None],
        "label": ["drugs", "drugs", "drugs", "weapons", "drugs", "benign"],
    }).astype(object)
    kept, counts = deduplicate(frame)
    assert counts["exact duplicate (same title, same vendor or shop)"] == 1
    assert counts["near-identical title across vendors/shops"] == 1
    assert counts["near-duplicate family with conflicting labels"] == 2
    # the row with a description wins its family
    assert kept["title"].tolist() == ["5g mdma!", "x"]


def test_repost_markers_are_removed_so_reposts_deduplicate():
    frame = pd.DataFrame({
        "title": ["EURO NOTES READY", "EURO NOTES READY (Clone)",
                  "EURO NOTES READY (Clone) (clone)", "14G COCAINE (Duplicate)", "(Clone)",
                  "Clone trooper helmet", "Cloned cards (clone) with PIN",
                  "50 tabs x ROXY 30MG (COPY)", "X (Clone)"],
        "vendor": ["v"] * 9, "source": ["s"] * 9, "description": [None] * 9,
        "label": ["counterfeit"] * 3 + ["drugs", "benign", "benign", "stolen_data", "drugs",
                                        "drugs"],
    }).astype(object)
    stripped, changed = strip_repost_markers(frame)
    assert stripped["title"].tolist() == [
        "EURO NOTES READY", "EURO NOTES READY", "EURO NOTES READY", "14G COCAINE", "(Clone)",
        "Clone trooper helmet", "Cloned cards (clone) with PIN", "50 tabs x ROXY 30MG (COPY)",
        "X (Clone)"]
    assert changed == 3
    kept, counts = deduplicate(stripped)
    assert counts["exact duplicate (same title, same vendor or shop)"] == 2
    assert kept["title"].tolist().count("EURO NOTES READY") == 1


def test_prepare_reports_every_dropped_row():
    raw = raw_frame()
    splits, book, _ = prepare(raw, POLICY)
    kept = sum(len(splits[s]) for s in ("train", "validation", "test", "oot")) + len(
        splits["cross_market"]) - len(splits["oot"])
    dropped = sum(n for reasons in book["dropped"].values() for n in reasons.values())
    assert kept == book["rows_kept"]
    assert kept + dropped == len(raw)
    assert book["dropped"]["clean"]["empty or one-character title"] == 1
    dedup = book["dropped"]["de-duplication"]
    assert dedup["exact duplicate (same title, same vendor or shop)"] >= 1
    assert dedup["near-identical title across vendors/shops"] >= 1


def test_title_rules_drop_rows_without_moving_any_other_row():
    raw = raw_frame()
    placeholders = pd.DataFrame(
        [("agora-test", "agora", "darkweb", "2014-01-01", f"vendor{i}", title, None,
          "Drugs/Other", None) for i, title in enumerate(
            ["Custom listing for J***y", "custom order 18", "Weight Training For Dummies"])],
        columns=raw.columns).astype(object)
    splits, book, _ = prepare(pd.concat([raw, placeholders], ignore_index=True), POLICY)
    by_title = book["dropped"]["label policy, by title (after splitting)"]
    assert sum(by_title.values()) == 3
    assert any("placeholder" in reason for reason in by_title)
    kept = sum(len(splits[s]) for s in ("train", "validation", "test", "cross_market"))
    assert kept == book["rows_kept"]  # held-out shops and oot are both in cross_market
    blind = dataclasses.replace(POLICY, rules=tuple(
        dataclasses.replace(r, when_title=re.compile("(?!)")) if r.reads_title else r
        for r in POLICY.rules))
    unchanged, _, _ = prepare(raw, blind)
    for name in ("train", "validation", "test", "oot"):
        assert sorted(splits[name]["uid"]) == sorted(unchanged[name]["uid"])


def test_no_vendor_or_cluster_in_two_splits_and_oot_held_out():
    splits, _, _ = prepare(raw_frame(), POLICY)
    assert shared_groups(splits) == set()
    vendors = {s: set(splits[s]["vendor"].dropna()) for s in ("train", "validation", "test")}
    assert not vendors["train"] & vendors["test"]
    assert not vendors["train"] & vendors["validation"]
    assert set(splits["oot"]["market"]) == {"white-house"}
    for name in ("train", "validation", "test"):
        assert "white-house" not in set(splits[name]["market"])
    # every class reaches training
    assert set(splits["train"]["label"]) == set(POLICY.labels.names)


def test_build_is_byte_identical_and_readable(tmp_path: Path):
    source = tmp_path / "tables"
    source.mkdir()
    raw_frame().drop(columns=["label"]).to_parquet(source / "fixture.parquet")
    first = build(source, tmp_path / "a")
    second = build(source, tmp_path / "b")
    assert first["files"] == second["files"]
    assert first["fingerprint"] == second["fingerprint"]
    splits = load_splits(tmp_path / "a")
    assert set(splits) == {"train", "validation", "test", "oot", "cross_market"}
    assert labels_of(tmp_path / "a").names == POLICY.labels.names
    assert "Rows per class and split" in (tmp_path / "a" / "README.md").read_text()
    assert read_info(tmp_path / "a")["shared_groups"] == 0
    assert read_info(tmp_path / "a")["name"] == "a"  # the folder's name, whatever it holds
    settings = read_info(tmp_path / "a")["splits_settings"]
    assert settings["validation_fraction"] == POLICY.splits.validation_fraction
    assert settings["test_fraction"] == POLICY.splits.test_fraction
    assert read_info(tmp_path / "a")["supplements"], "the fixture should exercise supplements"


def test_missing_data_says_where_it_looked(tmp_path: Path):
    with pytest.raises(NoDataError, match="CONTRABAND_DATA"):
        build(tmp_path / "nowhere", tmp_path / "out")


def test_user_table_with_column_mapping(tmp_path: Path):
    path = tmp_path / "mine.csv"
    path.write_text("name,body,seller,verdict\nGlock 17,mint,bob,weapons\nteapot,,shop,benign\n")
    table = UserTable(path, "mine", parse_mapping("title=name,description=body,vendor=seller,"
                                                  "label=verdict"))
    frame = read_user_table(table)
    assert frame["title"].tolist() == ["Glock 17", "teapot"]
    assert frame["label"].tolist() == ["weapons", "benign"]
    assert frame["description"].tolist() == ["mint", None]
    assert frame["market"].tolist() == ["mine", "mine"]
    with pytest.raises(ValueError, match="ours=theirs"):
        parse_mapping("title")
    with pytest.raises(ValueError, match="no title column"):
        read_user_table(UserTable(path, "mine", {}))
