"""Cut-free figures: is a model behind out of domain because of its cut or its ranking?"""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from training.metrics import macro_f1_over
from training.suite.ceiling import cut_free_figures, figure, figure_keys

NAMES = ("benign", "drugs", "weapons", "counterfeit", "stolen_data")


def scores_for(y: np.ndarray, strength: float, seed: int) -> np.ndarray:
    """Probabilities whose true class gets ``strength`` more log-odds than noise."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(y), len(NAMES)))
    logits[np.arange(len(y)), y] += strength
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def shifted(proba: np.ndarray, bias: list[float]) -> np.ndarray:
    out = proba * np.exp(np.asarray(bias))
    return out / out.sum(axis=1, keepdims=True)


def test_macro_f1_over_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    y, predicted = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    present = [0, 1, 3]
    expected = f1_score(y, predicted, labels=present, average="macro", zero_division=0)
    assert macro_f1_over(y, predicted, present, 5) == pytest.approx(expected)


def test_a_model_that_ranks_perfectly_but_cuts_wrong_reaches_the_ceiling():
    y = np.repeat([0, 1, 3], 200)
    ranked = np.full((len(y), len(NAMES)), 0.1)
    ranked[np.arange(len(y)), y] = 0.6                   # the right class always first
    proba = shifted(ranked, [0.0, 0.0, 0.0, 2.0, 0.0])  # ... but counterfeit pushed above it
    figures = cut_free_figures(y, proba, NAMES)
    assert figures["macro_f1_served"] < 0.5
    assert figures["macro_f1_offset_ceiling"] == 1.0
    assert figures["mean_average_precision"] == 1.0
    assert set(figures["average_precision"]) == {"benign", "drugs", "counterfeit"}


def test_a_model_that_ranks_worse_stays_below_at_its_ceiling():
    y = np.repeat([0, 1, 3, 4], 300)
    good = cut_free_figures(y, scores_for(y, 3.0, 2), NAMES)
    poor = cut_free_figures(y, scores_for(y, 1.0, 2), NAMES)
    assert poor["macro_f1_offset_ceiling"] < good["macro_f1_offset_ceiling"] - 0.1
    assert poor["mean_average_precision"] < good["mean_average_precision"] - 0.1


def test_offsets_per_market_mend_what_one_pooled_offset_cannot():
    # a shop of lawful listings pushed towards counterfeit, a darknet market of counterfeits
    # pushed towards benign: no single cut serves both, one per market does
    y = np.array([0] * 300 + [3] * 300)
    markets = np.array(["shop"] * 300 + ["darknet"] * 300)
    ranked = scores_for(y, 2.5, 3)
    proba = np.vstack([shifted(ranked[:300], [0, 0, 0, 4, 0]),
                       shifted(ranked[300:], [4, 0, 0, 0, 0])])
    figures = cut_free_figures(y, proba, NAMES, markets)
    assert figures["macro_f1_per_market_ceiling"] > figures["macro_f1_offset_ceiling"] + 0.05
    assert figures["macro_f1_offset_ceiling"] >= figures["macro_f1_served"]
    assert figure_keys(figures)[:3] == ["macro_f1_served", "macro_f1_offset_ceiling",
                                        "macro_f1_per_market_ceiling"]
    assert figure(figures, "average_precision.counterfeit") == \
        figures["average_precision"]["counterfeit"]


def test_cut_free_figures_reject_probabilities_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        cut_free_figures(np.array([0, 1]), np.ones((2, 3)) / 3, NAMES)
    with pytest.raises(ValueError, match="at least one row"):
        cut_free_figures(np.array([], dtype=int), np.ones((0, 5)), NAMES)
