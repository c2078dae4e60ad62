"""Report generation end to end on a tiny dataset, `--compare`, and `contraband explain`."""

import json
from pathlib import Path

import pandas as pd
import pytest

from cli.main import main
from model.explain import explain
from tests.suite_support import write_tiny_dataset
from training.suite.compare import compare, load_or_run
from training.suite.fastfit import RetrainConfig
from training.suite.runner import SECTIONS, parse_sections, run_suite

TINY = RetrainConfig(per_class=100, test_per_class=100, min_test_rows=3, min_market_rows=5,
                     hash_bits=12)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny")


def test_full_suite_writes_one_self_contained_report(tiny_dataset, models_dir, tmp_path):
    out, document = run_suite("baseline-test", tiny_dataset, tmp_path / "r", None, TINY)
    html = (out / "report.html").read_text(encoding="utf-8")
    saved = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    assert set(saved["sections"]) == set(SECTIONS)
    assert saved["headline"] == document["headline"]
    assert "data:image/png;base64," in html
    assert 'src="http' not in html and "<link" not in html
    for heading in ("Cross-market", "Robustness", "Hard negatives", "Calibration",
                    "Explanations", "Transfer matrix", "Leave one market out", "Label shift"):
        assert heading in html
    for png in ("transfer_matrix", "robustness", "reliability", "hard_negatives", "lomo"):
        assert (out / f"{png}.png").stat().st_size > 1000
    assert any(k.startswith("robustness.") for k in saved["headline"])
    examples = saved["sections"]["explanations"]["examples"]
    assert examples and {e["unit"] for e in examples} == {"margin"}
    assert "margin with the word minus without it" in html
    assert saved["sections"]["explanations"]["faithfulness"]["k"]
    assert "Faithfulness" in html and "explanations.comprehensiveness_top3" in saved["headline"]
    assert saved["sections"]["crossmarket"]["out_of_time"]["oot"]["rows"] > 0
    read = saved["sections"]["ablation"]["input_read"]  # a baseline: no token limit
    assert read["max_tokens"] is None and "What the bundle reads" in html
    assert all(e["tokens_cut_share"] is None for e in read["splits"].values())
    assert set(read["splits"]["cross_market"]["per_market"]) == set(
        pd.read_parquet(tiny_dataset / "cross_market.parquet")["market"])
    shift = saved["sections"]["label_shift"]
    assert shift["source_prior_origin"].startswith("computed")  # the tiny bundle has none
    assert abs(sum(shift["source_prior"].values()) - 1) < 1e-3
    assert shift["method"] == "bbse"
    assert {"label_shift.test.macro_f1_adapted_bbse",
            "label_shift.test.macro_f1_adapted_em"} <= set(saved["headline"])
    assert "macro-F1 adapted (bbse)" in html and "macro-F1 adapted (em)" in html
    assert "true shares inside the 95% interval" in html
    assert "validation matrix's" in shift["interval_covers"]
    checked = [e for split in ("test", "oot", "cross_market")
               for e in shift.get(split, {}).get("per_market", {}).values()
               if "true_in_interval" in e]
    for entry in checked:
        assert set(entry["true_in_interval"]) <= set(shift["source_prior"])
    assert bool(checked) == any(k.endswith("interval_coverage") for k in saved["headline"])


def test_compare_two_runs(tiny_dataset, models_dir, tmp_path):
    first, _ = run_suite("baseline-test", tiny_dataset, tmp_path / "a", ["calibration"], TINY)
    second, _ = run_suite("baseline-test", tiny_dataset, tmp_path / "b",
                          ["calibration", "hard_negatives"], TINY)
    never = pytest.fail
    result = compare(load_or_run(str(first), never), load_or_run(str(second / "suite.json"),
                                                                   never))
    rows = {r["figure"]: r for r in result["rows"]}
    ece = next(k for k in rows if k.startswith("calibration.ece.shipped."))
    assert rows[ece]["b_minus_a"] == 0.0
    only_b = next(k for k in rows if k.startswith("hard_negatives."))
    assert rows[only_b]["a"] is None and rows[only_b]["b_minus_a"] is None
    assert result["not_comparable"] == []


def test_compare_says_when_runs_are_not_comparable(tiny_dataset, models_dir, tmp_path, capsys):
    import json

    a, _ = run_suite("baseline-test", tiny_dataset, tmp_path / "a", ["calibration"], TINY)
    document = json.loads((a / "suite.json").read_text())
    document["dataset"]["fingerprint"] = "another build"
    document["robustness_rows"] = 500
    (tmp_path / "b.json").write_text(json.dumps(document))
    code = main(["evaluate", "--compare", str(a), str(tmp_path / "b.json"),
                 "--dataset", str(tiny_dataset), "--output", str(tmp_path / "c")])
    assert code == 0
    out = capsys.readouterr().out
    assert "warning: the two runs differ in the dataset" in out
    assert "warning: the two runs differ in the robustness sample" in out
    assert "Not comparable" in (tmp_path / "c" / "compare.html").read_text()


def test_compare_cli_writes_html(tiny_dataset, models_dir, tmp_path, capsys):
    a, _ = run_suite("baseline-test", tiny_dataset, tmp_path / "a", ["calibration"], TINY)
    code = main(["evaluate", "--compare", str(a), str(a), "--dataset", str(tiny_dataset),
                 "--output", str(tmp_path / "c")])
    assert code == 0
    assert (tmp_path / "c" / "compare.html").is_file()
    assert "calibration.ece.shipped.drugs" in capsys.readouterr().out


def test_unknown_suite_section_is_a_clear_error(models_dir, capsys):
    assert main(["evaluate", "baseline-test", "--suite", "vibes"]) == 2
    assert "unknown suite section" in capsys.readouterr().err
    assert main(["evaluate", "baseline-test", "--robustness-rows", "100"]) == 2  # no --suite
    assert "give it with --suite" in capsys.readouterr().err
    assert parse_sections("all") == list(SECTIONS)
    assert parse_sections("robustness, calibration") == ["robustness", "calibration"]


def test_bad_compare_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "suite.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="not a suite result"):
        load_or_run(str(tmp_path), pytest.fail)


def test_explain_cli_uses_the_shared_explainer(models_dir, tiny_classifier, capsys, tmp_path):
    page = tmp_path / "e.html"
    code = main(["explain", "Glock 19 with 2 mags", "--top-k", "3", "--json",
                 "--html", str(page)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    shared = explain(tiny_classifier, "Glock 19 with 2 mags", top_k=3, time_budget_s=10)
    assert printed["explanation"]["class_name"] == shared.class_name == "weapons"
    assert [w["word"] for w in printed["explanation"]["words"]] == [w for w, _ in shared.words]
    assert "<span" in page.read_text(encoding="utf-8")


def test_explain_html_without_words_escapes_the_listing(models_dir, tmp_path, monkeypatch):
    from model import explain as explaining

    monkeypatch.setattr(explaining, "explain", lambda *a, **k: explaining.Explanation(
        "weapons", [], status="timeout", detail="budget spent"))
    page = tmp_path / "e.html"
    assert main(["explain", "Glock 19 & <b>mags</b>", "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "Glock 19 &amp;" in text and "<b>mags" not in text


def test_explain_cli_rejects_bad_input(models_dir, capsys):
    assert main(["explain", "   "]) == 2
    assert main(["explain", "Glock", "--top-k", "0"]) == 2
    assert main(["explain", "Glock", "--class", "cats"]) == 2
    assert "error" in capsys.readouterr().err


def test_label_shift_checks_each_adapted_markets_interval_against_its_true_mix(
        tiny_dataset, tiny_classifier):
    from data.dataset import load_splits
    from training.suite.label_shift import headline, label_shift

    frames = load_splits(tiny_dataset)
    result = label_shift(tiny_classifier, frames, min_rows=10)
    checked = {(split, market): entry for split in ("oot", "cross_market")
               for market, entry in result[split]["per_market"].items()}
    assert checked[("cross_market", "gamma")]["rows"] >= 10
    for entry in checked.values():
        assert set(entry["estimated_interval"]) == set(result["source_prior"])
        for low, high in entry["estimated_interval"].values():
            assert 0 <= low <= high <= 1
    pairs = [(len(e["true_in_interval"]), len(result["source_prior"]))
             for e in result["cross_market"]["per_market"].values()]
    assert result["cross_market"]["interval_coverage"] == pytest.approx(
        sum(k for k, _ in pairs) / sum(n for _, n in pairs), abs=1e-4)
    assert headline(result)["label_shift.cross_market.interval_coverage"] == (
        result["cross_market"]["interval_coverage"])
    # markets of at least twice min_rows are also served one at a time at the other half's
    # mix; smaller ones keep their scores
    for market, entry in result["cross_market"]["per_market"].items():
        assert ("after_served" in entry) == (entry["rows"] >= 20), market
    assert any("after_served" in e for e in result["cross_market"]["per_market"].values())
    assert headline(result)["label_shift.cross_market.macro_f1_served_other_half_mix"] == (
        result["cross_market"]["after_served"]["macro_f1"])
    assert headline(result)["label_shift.cross_market.macro_f1_served_online"] == (
        result["cross_market"]["after_online"]["macro_f1"])


def test_online_scores_correct_a_market_only_after_min_rows_of_its_listings():
    """The suite's online protocol is the server's market adaptation: a market's first
    min_rows listings (in the seeded order) keep their scores, later ones are corrected,
    and a market that never reaches min_rows is never corrected."""
    import numpy as np

    from model.priors import label_shift_record
    from training.suite.label_shift import online_scores

    names = ["benign", "drugs"]
    truth = np.repeat([0, 1], 50)
    record = label_shift_record(np.eye(2)[truth], truth, names)
    proba = np.tile([0.4, 0.6], (70, 1))  # every listing leans drugs at the training mix
    markets = np.array(["shop"] * 60 + ["tiny"] * 10)
    served = online_scores(proba, markets, record, names, min_rows=20, batch=1)
    order = np.random.default_rng(0).permutation(70)
    shop_order = [i for i in order if markets[i] == "shop"]
    np.testing.assert_array_equal(served[shop_order[:20]], proba[shop_order[:20]])
    # all-drugs traffic: the estimate rules lawful out, so later listings lean drugs harder
    assert (served[shop_order[20:], 1] > 0.99).all()
    np.testing.assert_array_equal(served[60:], proba[60:])
