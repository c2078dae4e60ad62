"""model.market_mix: each marketplace's class mix learned from its earlier listings' labels
and applied to its next ones."""

from __future__ import annotations

import numpy as np
import pytest

from model.market_mix import MarketMixes
from model.priors import label_shift_record, parse_prior, reweighted

NAMES = ["benign", "drugs", "weapons"]


def record(confusion_noise: float = 0.0) -> dict:
    """A bundle config whose validation was a third of each class, predicted right (up to
    ``confusion_noise`` of each class read as the next one)."""
    truth = np.repeat(np.arange(3), 300)
    predicted = truth.copy()
    wrong = np.arange(len(truth)) % 100 < confusion_noise * 100
    predicted[wrong] = (truth[wrong] + 1) % 3
    return {"version": "baseline-test", **label_shift_record(np.eye(3)[predicted], truth, NAMES)}


def scores(label: int, n: int, strength: float = 0.6) -> np.ndarray:
    """``n`` rows that lean towards ``label`` with ``strength``, the rest split evenly."""
    row = np.full(3, (1 - strength) / 2)
    row[label] = strength
    return np.tile(row, (n, 1))


def test_a_market_is_corrected_only_by_its_earlier_listings():
    mixes = MarketMixes(record(), NAMES, window=1000, min_rows=50, refresh=10)
    lawful = scores(0, 50)
    served, used = mixes.serve(["shop"] * 50, lawful)
    # its first 50 listings are the evidence, not yet corrected
    np.testing.assert_array_equal(served, lawful)
    assert used == [None] * 50
    doubtful = scores(1, 3, strength=0.5)  # reads as drugs at the training mix
    served, used = mixes.serve(["shop"] * 3, doubtful)
    assert all(u is not None and u.market == "shop" and u.listings == 50 for u in used)
    # an all-lawful estimate (each share floored at 0.001, as --target-prior applies it)
    target = parse_prior("benign=1,drugs=0.001,weapons=0.001", NAMES)
    np.testing.assert_allclose(served, reweighted(doubtful, target / mixes_source()),
                               atol=1e-9)
    assert served[:, 0].min() > 0.9  # the lawful market's doubtful listing reads lawful


def mixes_source() -> np.ndarray:
    return np.array([1 / 3, 1 / 3, 1 / 3])


def test_the_estimate_is_renewed_every_refresh_listings():
    mixes = MarketMixes(record(), NAMES, window=1000, min_rows=20, refresh=10)
    mixes.serve(["m"] * 20, scores(0, 20))
    first = mixes.serve(["m"], scores(1, 1))[1][0]
    mixes.serve(["m"] * 8, scores(1, 8))  # 9 new listings since the estimate
    assert mixes.serve(["m"], scores(1, 1))[1][0] is first
    renewed = mixes.serve(["m"], scores(1, 1))[1][0]  # the 10th arrived with the last batch
    assert renewed is not first and renewed.listings == 30
    assert renewed.weights[1] > first.weights[1]  # drugs listings arrived


def test_unnamed_listings_fill_the_overall_window_and_keep_their_scores():
    mixes = MarketMixes(record(), NAMES, window=1000, min_rows=5)
    proba = scores(1, 30)
    otherwise = scores(2, 30)  # e.g. the server's target prior
    markets = [None, "a"] * 15
    mixes.serve(markets, proba, otherwise=otherwise)
    served, used = mixes.serve(markets, proba, otherwise=otherwise)
    np.testing.assert_array_equal(served[0::2], otherwise[0::2])
    assert all(u is None for u in used[0::2]) and all(u is not None for u in used[1::2])
    labels, seen = mixes.window(None)
    assert seen == 60 and labels.tolist() == [1] * 60
    assert mixes.window("a")[1] == 30 and mixes.window("never seen")[1] == 0


def test_markets_are_kept_up_to_max_markets_least_recently_used_first():
    mixes = MarketMixes(record(), NAMES, max_markets=2)
    for market in ("a", "b", "a", "c"):
        mixes.serve([market], scores(0, 1))
    assert mixes.markets() == ["a", "c"]  # b was used least recently
    assert mixes.window("b")[1] == 0


def test_no_correction_without_a_confusion_matrix_or_when_switched_off():
    old = {"version": "baseline-old", "source_prior": dict.fromkeys(NAMES, 1 / 3)}
    for mixes in (MarketMixes(old, NAMES, min_rows=1),
                  MarketMixes(record(), NAMES, min_rows=1, correct=False),
                  MarketMixes(record(), NAMES, window=10, min_rows=20)):
        mixes.serve(["m"] * 40, scores(0, 40))
        proba = scores(1, 5)
        served, used = mixes.serve(["m"] * 5, proba)
        np.testing.assert_array_equal(served, proba)
        assert used == [None] * 5 and mixes.window("m")[1] == 45
    assert "no validation confusion matrix" in MarketMixes(old, NAMES).unavailable


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ValueError, match="min_rows"):
        MarketMixes(record(), NAMES, min_rows=0)
    with pytest.raises(ValueError, match="refresh"):
        MarketMixes(record(), NAMES, refresh=0)
    with pytest.raises(ValueError, match="2 markets for 3 rows"):
        MarketMixes(record(), NAMES).serve(["a", "b"], scores(0, 3))


def test_a_listing_carries_its_market_and_the_model_never_reads_it(tiny_classifier):
    from model import Listing

    named = Listing.coerce({"title": "5g MDMA crystal", "market": "agora"})
    assert named.market == "agora"
    with pytest.raises(ValueError, match="'market' must be a string"):
        Listing.coerce({"title": "x", "market": 3})
    np.testing.assert_array_equal(tiny_classifier.predict_proba([named]),
                                  tiny_classifier.predict_proba(["5g MDMA crystal"]))


def test_the_window_counts_follow_its_labels_and_bbse_reads_them_as_it_reads_scores():
    from model.market_mix import LabelWindow
    from model.priors import bbse_adapt, bbse_mix, confusion_matrix

    rng = np.random.default_rng(3)
    window = LabelWindow(37, 3)
    for size in rng.integers(0, 60, 40):
        window.add(rng.integers(0, 3, size))
        assert window.counts.tolist() == np.bincount(window.labels(), minlength=3).tolist()
    matrix = confusion_matrix(record(confusion_noise=0.1)["validation_confusion"], NAMES)
    labels = window.labels()
    np.testing.assert_allclose(bbse_mix(window.counts / len(window), matrix),
                               bbse_adapt(np.eye(3)[labels], matrix).prior, atol=1e-12)
