"""The baseline model kind: word and character TF-IDF with a calibrated linear classifier."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.svm import LinearSVC

MODEL_FILE = "baseline.joblib"


class TfidfLinearModel:
    """Word (1–2) and character (2–5, within word boundaries) TF-IDF into a linear SVM.

    Class imbalance is handled with balanced class weights; probabilities come from sigmoid
    calibration fitted on held-out folds. When ``groups`` (vendor or near-duplicate cluster)
    are given to :meth:`fit`, those folds are grouped, so the calibration never sees a
    re-post of a listing it was trained on and the scores are not over-confident.
    """

    kind = "baseline"

    def __init__(
        self,
        *,
        C: float = 0.5,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        max_features: int | None = 400_000,
        min_df: int = 2,
        calibration_folds: int = 3,
        random_state: int = 0,
    ) -> None:
        if C <= 0:
            raise ValueError(f"C must be positive, got {C}")
        for name, (low, high) in (("word_ngrams", word_ngrams), ("char_ngrams", char_ngrams)):
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 1 <= low <= high")
        if calibration_folds < 2:
            raise ValueError(f"calibration_folds must be at least 2, got {calibration_folds}")
        self.C = C
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams)
        self.max_features = max_features
        self.min_df = min_df
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.word_: TfidfVectorizer | None = None
        self.char_: TfidfVectorizer | None = None
        self.classifier_: CalibratedClassifierCV | None = None

    def get_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "max_features": self.max_features,
            "min_df": self.min_df,
            "calibration_folds": self.calibration_folds,
            "random_state": self.random_state,
        }

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if self.word_ is None or self.char_ is None:
            raise RuntimeError("the model is not fitted; call fit() first")
        return sparse.hstack(
            [self.word_.transform(texts), self.char_.transform(texts)], format="csr"
        )

    def fit(
        self,
        texts: Sequence[str],
        y: Sequence[int],
        groups: Sequence[str] | None = None,
    ) -> TfidfLinearModel:
        """Fit on prepared texts and integer class ids."""
        y = np.asarray(y)
        if len(texts) != len(y):
            raise ValueError(f"{len(texts)} texts but {len(y)} labels")
        if len(np.unique(y)) < 2:
            raise ValueError("training data must contain at least two classes")
        self.word_ = TfidfVectorizer(
            analyzer="word", ngram_range=self.word_ngrams, lowercase=True, min_df=self.min_df,
            sublinear_tf=True, max_features=self.max_features, token_pattern=r"(?u)\b\w+\b",
            dtype=np.float32,
        )
        self.char_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=self.char_ngrams, lowercase=True,
            min_df=self.min_df, sublinear_tf=True, max_features=self.max_features,
            dtype=np.float32,
        )
        self.word_.fit(texts)
        self.char_.fit(texts)
        features = self._features(texts)
        svm = LinearSVC(C=self.C, class_weight="balanced", random_state=self.random_state)
        if groups is not None:
            folds = list(GroupKFold(n_splits=self.calibration_folds).split(features, y, groups))
        else:
            folds = StratifiedKFold(
                self.calibration_folds, shuffle=True, random_state=self.random_state
            )
        self.classifier_ = CalibratedClassifierCV(svm, method="sigmoid", cv=folds)
        self.classifier_.fit(features, y)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, one column per class id (all classes, even unseen)."""
        if self.classifier_ is None:
            raise RuntimeError("the model is not fitted; call fit() first")
        if len(texts) == 0:
            return np.zeros((0, len(self.classifier_.classes_)), dtype=np.float64)
        return self.classifier_.predict_proba(self._features(texts))

    def token_contributions(self, text: str, class_id: int) -> list[tuple[str, float]]:
        """Each word's share of the decision score for ``class_id`` (word features only).

        Char n-gram weights are spread over the words that contain them, so the result is
        one number per word, summed over both vectorisers, averaged over calibration folds.
        """
        if self.classifier_ is None or self.word_ is None or self.char_ is None:
            raise RuntimeError("the model is not fitted; call fit() first")
        coef = np.mean(
            [c.estimator.coef_ for c in self.classifier_.calibrated_classifiers_], axis=0
        )
        n_word = len(self.word_.vocabulary_)
        row = coef[class_id]
        words = self.word_.build_tokenizer()(text)
        word_vec = self.word_.transform([text])
        char_vec = self.char_.transform([text])
        char_analyzer = self.char_.build_analyzer()
        contributions: dict[str, float] = {}
        for word in words:
            w = word.lower()
            score = 0.0
            idx = self.word_.vocabulary_.get(w)
            if idx is not None:
                score += float(word_vec[0, idx] * row[idx])
            for gram in set(char_analyzer(w)):
                cidx = self.char_.vocabulary_.get(gram)
                if cidx is not None:
                    score += float(char_vec[0, cidx] * row[n_word + cidx])
            contributions[word] = contributions.get(word, 0.0) + score
        return sorted(contributions.items(), key=lambda kv: -abs(kv[1]))

    def save(self, directory: Path) -> list[str]:
        joblib.dump(self, Path(directory) / MODEL_FILE, compress=3)
        return [MODEL_FILE]

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> TfidfLinearModel:
        obj = joblib.load(Path(directory) / MODEL_FILE)
        if not isinstance(obj, cls):
            raise TypeError(f"{MODEL_FILE} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj
