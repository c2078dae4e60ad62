"""The evaluation suite's pieces on tiny fixtures: transfer matrix, folds, calibration, ..."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import LabelSet
from tests.suite_support import LABELS, tiny_rows
from training import lookalike_groups
from training.metrics import to_ids, wilson_interval
from training.suite import calibration, crossmarket, hard_negatives
from training.suite.fastfit import FoldModel, RetrainConfig
from training.suite.robustness import perturbed_listings, robustness_suite

LABEL_SET = LabelSet.from_names(LABELS)
TINY = RetrainConfig(per_class=100, test_per_class=100, min_test_rows=3, min_market_rows=5,
                     hash_bits=12)


def test_fold_model_predicts_every_class_even_when_trained_on_two():
    rows = tiny_rows()
    rows = rows[rows["label"].isin(["benign", "drugs"])]
    model = FoldModel(TINY, len(LABELS)).fit(rows["text"].tolist(),
                                             to_ids(rows["label"], LABEL_SET),
                                             rows["group"].tolist())
    proba = model.predict_proba(["Cocaine 1g 90% pure", "garden hose 50ft"])
    assert proba.shape == (2, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, 2:] == 0).all()
    assert proba[0].argmax() == 1 and proba[1].argmax() == 0


def test_fold_model_refuses_one_class():
    with pytest.raises(ValueError, match="two classes"):
        FoldModel(TINY, 5).fit(["a b", "c d"], np.array([1, 1]))


def test_transfer_matrix_on_tiny_markets():
    rows = tiny_rows()
    darknet = rows[rows["kind"] == "darkweb"]
    shops = rows[rows["kind"] == "surface"]
    background_train = shops[shops["market"] != "shopc"]
    background_test = shops[shops["market"] == "shopc"]
    result = crossmarket.transfer_matrix(darknet, background_train, background_test,
                                         LABEL_SET, TINY, shops=background_test)
    assert result["train_markets"] == ["alpha", "beta", "gamma"]
    assert result["test_markets"] == ["alpha", "beta", "gamma", "held-out shops"]
    matrix = np.array(result["matrix"], dtype=float)
    assert matrix.shape == (3, 4)
    assert ((matrix >= 0) & (matrix <= 1)).all()
    # alpha sells no counterfeit, so a model trained on it can never get beta's counterfeit
    # right: at most 2 of beta's 3 classes (drugs, benign) can score.
    alpha, beta = 0, 1
    assert matrix[alpha, beta] <= 2 / 3 + 1e-9
    # each market's held-out vendors are never in its own training half
    assert all(result["test_rows"][m] > 0 and result["train_rows"][m] > 0
               for m in result["train_markets"])


def test_leave_one_market_out_drops_the_market(tiny_classifier):
    rows = tiny_rows()
    frames = {"train": rows[rows["market"] != "shopc"],
              "test": rows[rows["market"].isin(["alpha", "beta"])],
              "cross_market": rows[rows["market"] == "shopc"]}
    result = crossmarket.leave_one_market_out(frames["train"], frames, LABEL_SET, TINY)
    folds = result["folds"]
    assert set(folds) == {"alpha", "beta", "shopc"}
    assert folds["alpha"]["in_training_split"] and not folds["shopc"]["in_training_split"]
    # shopc was never trained on: left out and reference are the same model
    assert folds["shopc"]["left_out"] == folds["shopc"]["reference"]
    # without alpha no weapons remain: alpha's weapons rows cannot be recognised
    assert folds["alpha"]["left_out"]["macro_f1"] < folds["alpha"]["reference"]["macro_f1"]


def test_ece_is_zero_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=20000)
    truth = (rng.uniform(size=20000) < scores).astype(float)
    assert calibration.reliability(scores, truth)["ece"] < 0.02
    assert calibration.reliability(scores ** 4, truth)["ece"] > 0.15
    bins = calibration.reliability(np.array([0.05, 0.95]), np.array([0.0, 1.0]))["bins"]
    assert [b["rows"] for b in bins] == [1, 1]


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 3)) * 2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in proba])
    sharpened = calibration.apply_temperature(proba, 0.4)
    t = calibration.fit_temperature(sharpened, y)
    assert 2.0 < t < 3.0  # sharpening by 1/0.4 is undone by T ≈ 2.5
    labels = LabelSet.from_names(["benign", "a", "b"])
    before = calibration.per_class_ece(sharpened, y, labels)
    after = calibration.per_class_ece(calibration.apply_temperature(sharpened, t), y, labels)
    assert all(after[n]["ece"] < before[n]["ece"] for n in labels.names)


def test_precision_at_recall():
    labels = LabelSet.from_names(["benign", "drugs"])
    proba = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.9, 0.1]])
    y = np.array([1, 0, 1, 1, 0])
    result = calibration.precision_at_recall(proba, y, labels, recall=0.9)
    # all three positives need the cut at 0.6: four rows flagged, three right
    assert result["drugs"] == {"support": 3, "precision": 0.75, "recall": 1.0,
                               "threshold": 0.6}


def test_hard_negative_groups_from_toml(tmp_path: Path, tiny_classifier):
    definition = tmp_path / "groups.toml"
    definition.write_text(
        'splits = ["test"]\n'
        '[[groups]]\nname = "knives"\nlooks_like = "weapons"\n'
        'rules = [{ source = "*", title = "(?i)knife" }]\n'
        '[[groups]]\nname = "shop a"\nrules = [{ source = "shopa-src" }]\n', encoding="utf-8")
    rows = tiny_rows()
    result = hard_negatives.hard_negatives(tiny_classifier, {"test": rows}, definition)
    groups = result["groups"]
    surface_benign = rows[(rows["kind"] == "surface") & (rows["label"] == "benign")]
    assert groups["knives"]["rows"] == surface_benign["title"].str.contains("knife").sum() > 0
    assert groups["shop a"]["rows"] == (surface_benign["source"] == "shopa-src").sum()
    for g in groups.values():
        assert 0 <= g["fp_rate_argmax"] <= 1
        assert g["fp_argmax"] == g["rows"] - g["predicted"].get("benign", 0)
        low, high = g["fp_rate_argmax_interval"]
        assert low <= g["fp_rate_argmax"] <= high
        assert g["fp_rate_block"] <= g["fp_rate_block_or_review"]
        assert sum(g["predicted"].values()) == g["rows"]
    # no validation split and no record in the bundle: nothing to estimate a mix with
    assert result["served"] is False and "fp_rate_served" not in groups["knives"]

    frames = {"test": rows, "validation": rows}
    kept = hard_negatives.hard_negatives(tiny_classifier, frames, definition)
    assert kept["served"] is True  # markets too small to halve keep their scores
    for g in kept["groups"].values():
        assert g["fp_served"] == g["fp_argmax"] == g["fp_online"]
    served = hard_negatives.hard_negatives(tiny_classifier, frames, definition, min_rows=2)
    halved = rows.groupby("market").size()
    assert (halved >= 4).any()
    for g in served["groups"].values():
        # lawful shops served at their own, lawful, estimated mix flag no more than before,
        # whether the mix comes from the other half or from the market's earlier listings
        for protocol in ("served", "online"):
            assert g[f"fp_{protocol}"] <= g["fp_argmax"]
            low, high = g[f"fp_rate_{protocol}_interval"]
            assert low <= g[f"fp_rate_{protocol}"] <= high
    assert "hard_negatives.knives.fp_rate_online" in hard_negatives.headline(served)


@pytest.mark.parametrize(("hits", "n", "low", "high"), [
    (0, 17, 0.0, 0.1843),  # no false positive among 17 knives still allows 18%
    (2, 17, 0.0329, 0.3434),
    (1, 17, 0.0105, 0.2698),
    (50, 100, 0.4038, 0.5962),
    (10, 10, 0.7225, 1.0),
])
def test_wilson_interval_matches_scipy(hits, n, low, high):
    """The values are scipy's ``binomtest(hits, n).proportion_ci(method="wilson")``."""
    got = wilson_interval(hits, n)
    assert got == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("hits", "n", "message"), [
    (0, 0, "at least one row"), (3, 2, "hits must be within"), (-1, 5, "hits must be within")])
def test_wilson_interval_refuses_impossible_counts(hits, n, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(hits, n)
    with pytest.raises(ValueError, match="confidence must be within"):
        wilson_interval(1, 5, confidence=1.0)


def test_default_hard_negative_definition_loads():
    splits, groups = lookalike_groups.load_definition()
    assert {"genuine watches", "gift cards", "supplements", "knives", "toy guns",
            "SIM cards"} <= {g.name for g in groups}
    assert splits


@pytest.mark.parametrize("body, message", [
    ('[[groups]]\nname = "x"\nrules = [{ source = "*", title = "(" }]\n', "bad regular"),
    ('[[groups]]\nname = "x"\nrules = [{ title = "a" }]\n', "needs 'source'"),
    ('[[groups]]\nname = "x"\nrules = []\n', "no rules"),
    ("splits = [\n", "not valid TOML"),
])
def test_bad_hard_negative_definitions_are_named(tmp_path: Path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        lookalike_groups.load_definition(path)


def test_robustness_suite_reports_a_drop_per_perturbation(tiny_classifier):
    rows = tiny_rows()
    result = robustness_suite(tiny_classifier, rows, seed=0, names=["leetspeak", "typos"])
    assert set(result["perturbations"]) == {"leetspeak", "typos"}
    for p in result["perturbations"].values():
        expected = round(100 * (result["clean"]["macro_f1"] - p["macro_f1"]), 2)
        assert abs(p["drop_points"] - expected) < 0.02
    listings = [{"title": t, "description": None} for t in rows["title"][:5]]
    assert perturbed_listings(listings, "typos", 3) == perturbed_listings(listings, "typos", 3)
    assert perturbed_listings(listings, "typos", 3) != perturbed_listings(listings, "typos", 4)


def test_cap_per_class_keeps_small_classes_whole():
    from training.suite.common import cap_per_class

    frame = pd.DataFrame({"label": ["a"] * 10 + ["b"] * 3})
    capped = cap_per_class(frame, 5, seed=0)
    assert capped["label"].value_counts().to_dict() == {"a": 5, "b": 3}


def test_leave_one_market_out_samples_the_bundles_supplements_too(tmp_path: Path):
    import json
    from types import SimpleNamespace

    from data.supplements import supplement_path
    from training.suite.runner import retrain_pool

    rows = tiny_rows()
    train = rows[rows["market"] != "shopc"].reset_index(drop=True)
    extra = train[train["market"] == "alpha"].head(3).assign(
        label="benign", uid=["s1", "s2", "s3"])
    extra.to_parquet(supplement_path(tmp_path, "lawful"))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"supplements": {"lawful": {}}}))
    bundle = SimpleNamespace(config={"dataset": {"supplements": {"lawful": {"rows": 3}}}})
    pool = retrain_pool(bundle, tmp_path, train)
    assert len(pool) == len(train) + 3 and {"s1", "s2", "s3"} <= set(pool["uid"])
    plain = SimpleNamespace(config={"dataset": {"supplements": {}}})
    assert retrain_pool(plain, tmp_path, train) is train
    # the supplement rows are alpha's: the fold without alpha trains without them too
    frames = {"train": pool, "test": rows[rows["market"].isin(["alpha", "beta"])]}
    folds = crossmarket.leave_one_market_out(pool, frames, LABEL_SET, TINY)["folds"]
    assert set(folds) == {"alpha", "beta"}


def test_sections_score_each_bundle_on_its_own_input(tiny_classifier):
    """The dataset's `text` column holds 400 characters of description; a bundle that reads
    none (a title-only transformer) must be scored on titles alone, as it is served."""
    import copy

    from model.text import listing_text
    from training.suite.common import listings_of

    title_only = copy.copy(tiny_classifier)
    title_only.config = {**tiny_classifier.config, "max_description_chars": 0}
    frame = tiny_rows().head(40).copy()
    drugs = " ".join(tiny_rows().query("label == 'drugs'")["title"])
    frame["description"] = (drugs + " ") * 10  # a body that says "drugs" whatever the title
    frame["text"] = [listing_text(t, d) for t, d in zip(frame["title"], frame["description"],
                                                         strict=True)]
    served = title_only.predict_proba(listings_of(frame))
    suite = crossmarket.out_of_time(title_only, {"test": frame})["test"]
    assert suite == crossmarket.market_score(served, frame, title_only.labels)
    full = tiny_classifier.predict_proba(listings_of(frame))
    assert (served.argmax(axis=1) != full.argmax(axis=1)).any()  # the inputs do differ


def test_label_shift_interval_check_names_the_true_shares_outside_the_interval():
    from training.suite.label_shift import interval_check

    names = ["benign", "drugs", "weapons"]
    low, high = np.array([0.96, 0.01, 0.0]), np.array([0.98, 0.03, 0.004])
    # a lawful market the model misreads: 2% "drugs" estimated where there are none
    check = interval_check((low, high), np.array([1.0, 0.0, 0.0]), names)
    assert check["true_in_interval"] == ["weapons"]
    assert check["estimated_interval"]["drugs"] == [0.01, 0.03]
    # a true share of exactly 1 on an upper end that percentiles approach counts as inside
    near = interval_check((np.array([0.9992, 0.0, 0.0]), np.array([0.9998, 0.0008, 0.0])),
                          np.array([1.0, 0.0, 0.0]), names)
    assert near["true_in_interval"] == names


def test_each_half_of_a_market_is_served_at_the_mix_of_the_other_half():
    from model.priors import PriorAdaptation
    from training.suite.label_shift import served_at_other_half_mix

    names = ["benign", "drugs", "weapons"]
    record = {"source_prior": {"benign": 0.5, "drugs": 0.25, "weapons": 0.25}}
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3), size=40)
    seen: list[int] = []

    def mean_mix(rows: np.ndarray) -> PriorAdaptation:  # an estimate we can predict
        seen.append(len(rows))
        return PriorAdaptation(rows, rows.mean(axis=0), 1, True)

    served = served_at_other_half_mix(proba, mean_mix, record, names)
    assert seen == [20, 20]
    first = np.random.default_rng(0).permutation(40) < 20
    for half in (first, ~first):
        mix = proba[~half].mean(axis=0)
        expected = proba[half] * (mix / mix.sum()) / np.array([0.5, 0.25, 0.25])
        np.testing.assert_allclose(served[half], expected / expected.sum(axis=1, keepdims=True),
                                   atol=1e-4)  # the mix passes through a 4-digit spec
    np.testing.assert_allclose(served.sum(axis=1), 1.0)


def test_served_scores_serve_each_large_enough_market_at_its_other_halfs_mix():
    from model.priors import PriorAdaptation
    from training.suite.label_shift import served_scores

    names = ["benign", "drugs"]
    record = {"source_prior": {"benign": 0.5, "drugs": 0.5}}
    borderline = [0.45, 0.55]
    proba = np.array([[0.9, 0.1]] * 36 + [borderline] * 4 + [borderline] * 6)
    markets = np.array(["shop"] * 40 + ["dark"] * 6)

    def mean_mix(rows: np.ndarray) -> PriorAdaptation:
        return PriorAdaptation(rows, rows.mean(axis=0), 1, True)

    served = served_scores(proba, markets, mean_mix, record, names, min_rows=10)
    # the lawful shop's borderline listings are lawful at the shop's own mix ...
    assert (served[36:40].argmax(axis=1) == 0).all()
    assert (served[:36].argmax(axis=1) == 0).all()
    # ... and a market too small to halve (6 < 2 x 10) keeps its scores
    np.testing.assert_array_equal(served[40:], proba[40:])
