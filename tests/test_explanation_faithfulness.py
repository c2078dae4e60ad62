"""The suite's faithfulness figures, on a model whose evidence is known: one word."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model import Classifier, LabelSet
from model.occlusion import LOG_ODDS, class_log_odds, occlusion_contributions
from model.text import DEFAULT_MAX_DESCRIPTION_CHARS
from training.suite.explanations import faithfulness, headline


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class OneWordModel:
    """P(drugs) = sigmoid(3 × the count of "cocaine" − 1): that word is all the evidence."""

    kind = "one-word"
    contribution_unit = LOG_ODDS

    def predict_proba(self, texts):
        p = sigmoid(np.array([3.0 * t.split().count("cocaine") - 1.0 for t in texts]))
        return np.column_stack([1 - p, p])

    def token_contributions(self, text, class_id):
        return occlusion_contributions(
            text, lambda variants: class_log_odds(self.predict_proba(variants), class_id))


def one_word_classifier():
    return Classifier(OneWordModel(), LabelSet.from_names(["benign", "drugs"]),
                      config={"version": "one-word",
                              "max_description_chars": DEFAULT_MAX_DESCRIPTION_CHARS})


def test_the_top_word_carries_the_score_and_random_words_do_not():
    frame = pd.DataFrame({
        "title": ["cocaine pure fast stealth"] * 6 + ["garden hose green long"] * 4,
        "description": [None] * 10, "label": ["drugs"] * 6 + ["benign"] * 4})
    result = faithfulness(one_word_classifier(), frame, rows=10, ks=(1, 3), seed=3)
    assert result["rows"] == 10 and result["illicit_rows"] == 6
    top1 = result["k_illicit"]["1"]
    assert top1["comprehensiveness"] == pytest.approx(sigmoid(2) - sigmoid(-1), abs=1e-4)
    assert top1["flips"] == 1.0 and top1["sufficiency"] == pytest.approx(0, abs=1e-4)
    # a random word is "cocaine" one time in four at most, and only then does it matter
    assert top1["random_comprehensiveness"] < top1["comprehensiveness"]
    assert top1["random_flips"] < 1.0
    # a lawful listing has no word pushing towards its class here: nothing is removed
    every = result["k"]["1"]
    assert every["comprehensiveness"] == pytest.approx(0.6 * top1["comprehensiveness"],
                                                       abs=1e-4)
    assert set(headline({"faithfulness": result})) == {
        f"explanations.{name}_top{k}" for k in (1, 3)
        for name in ("comprehensiveness", "random_comprehensiveness", "sufficiency")}


def test_a_model_that_cannot_explain_is_reported_as_such():
    class Opaque:
        kind = "opaque"

        def predict_proba(self, texts):
            return np.full((len(texts), 2), 0.5)

    clf = Classifier(Opaque(), LabelSet.from_names(["benign", "drugs"]),
                     config={"version": "o", "max_description_chars": 100})
    frame = pd.DataFrame({"title": ["a b"], "description": [None], "label": ["benign"]})
    assert faithfulness(clf, frame) == {"status": "unsupported"}
    assert headline({"faithfulness": {"status": "unsupported"}}) == {}
