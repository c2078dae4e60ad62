"""The baseline model kind: hashed word and character TF-IDF into a calibrated linear SVM."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from scipy import sparse
from scipy.special import expit

from model.features import HashedTfidf
from model.occlusion import MARGIN, occlusion_contributions

_DENSE_WEIGHTS_LOCK = threading.Lock()  # one per process: it is taken once per model load

if TYPE_CHECKING:
    from sklearn.calibration import CalibratedClassifierCV

MODEL_FILE = "baseline.joblib"


def check_row_weighting(hard_negative_weight: float, group_weight_power: float) -> None:
    """Refuse row-weighting settings the fit cannot use (shared with the training options,
    which check before minutes of data loading)."""
    if hard_negative_weight < 0:
        raise ValueError(f"hard_negative_weight must be >= 0, got {hard_negative_weight}")
    if not 0.0 <= group_weight_power <= 1.0:
        raise ValueError(f"group_weight_power must be within [0, 1], got {group_weight_power}")


def group_balanced_weights(y: np.ndarray, groups: Sequence[str], power: float) -> np.ndarray:
    """Row weights that stop a few prolific vendors from speaking for a whole class.

    A row of class c whose group (vendor, or near-duplicate cluster) holds n rows of class c
    weighs n ** -power (0 = every row alike, 1 = every vendor alike), rescaled so that each
    class keeps its total weight: the balance between classes is left to the class weights.
    Darknet classes are written by few vendors (one wrote 774 of the 2,651 counterfeit rows
    in training; three wrote most of the weapons class's knives), so an unweighted fit learns
    their wording. Measured on the shared data it did not help on unseen markets
    (training/EXPERIMENTS.md, "Prolific vendors"), which is why it is off by default.
    """
    y = np.asarray(y)
    if len(groups) != len(y):
        raise ValueError(f"{len(groups)} groups but {len(y)} labels")
    if power == 0:
        return np.ones(len(y))
    _, group_ids = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    pair = group_ids.astype(np.int64) * (int(y.max()) + 1) + y
    _, pair_ids, pair_counts = np.unique(pair, return_inverse=True, return_counts=True)
    weights = pair_counts[pair_ids].astype(np.float64) ** -power
    for c in np.unique(y):
        in_class = y == c
        weights[in_class] *= in_class.sum() / weights[in_class].sum()
    return weights


class TfidfLinearModel:
    """Word (1–2) and character (2–5) n-gram TF-IDF into a linear SVM, calibrated.

    Class imbalance is handled with balanced class weights; probabilities come from sigmoid
    calibration fitted on held-out folds. When ``groups`` (vendor or near-duplicate cluster)
    are given to :meth:`fit`, those folds are grouped, so the calibration never sees a
    re-post of a listing it was trained on and the scores are not over-confident.

    After fitting, the per-fold SVMs and their sigmoids are compiled into one sparse weight
    matrix and a few vectors, so prediction is one sparse product plus numpy, with none of
    scikit-learn's per-call input checking (which dominated single-listing latency).

    ``masked_features`` (feature ids of a known shortcut) take part in the fit and in the
    calibration, and are then dropped from the model that predicts: the linear case of
    product-of-experts debiasing (Clark et al., EMNLP 2019; He et al., 2019). Fitted with
    the other features, the shortcut's own weights soak up what it explains, so the other
    weights need not learn it; dropping them at prediction removes that share of the score
    and nothing else. (Removing the features from the input instead does not work: the fit
    finds the shortcut again in correlated n-grams. Dropping them before the calibration
    does not either: the sigmoids learn the removed share back as an offset.)
    """

    kind = "baseline"
    contribution_unit = MARGIN  # what token_contributions measures
    # class-level defaults: bundles pickled before hard-negative weighting existed lack them
    hard_negative_weight = 0.0
    group_weight_power = 0.0
    negative_class = 0
    hard_negatives_ = 0
    masked_features: np.ndarray | None = None

    def __init__(
        self,
        *,
        C: float = 0.5,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        n_features: int = 2**19,
        calibration_folds: int = 3,
        hard_negative_weight: float = 0.0,
        group_weight_power: float = 0.0,
        negative_class: int = 0,
        masked_features: Sequence[int] | None = None,
        random_state: int = 0,
    ) -> None:
        if C <= 0:
            raise ValueError(f"C must be positive, got {C}")
        for name, (low, high) in (("word_ngrams", word_ngrams), ("char_ngrams", char_ngrams)):
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 1 <= low <= high")
        if calibration_folds < 2:
            raise ValueError(f"calibration_folds must be at least 2, got {calibration_folds}")
        if n_features < 1024:
            raise ValueError(f"n_features must be at least 1024, got {n_features}")
        check_row_weighting(hard_negative_weight, group_weight_power)
        if negative_class < 0:
            raise ValueError(f"negative_class must be a class id (>= 0), got {negative_class}")
        self.C = C
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams)
        self.n_features = int(n_features)
        self.calibration_folds = calibration_folds
        self.hard_negative_weight = float(hard_negative_weight)
        self.group_weight_power = float(group_weight_power)
        self.negative_class = int(negative_class)
        self.masked_features = None
        if masked_features is not None and len(masked_features):
            masked = np.unique(np.asarray(masked_features, dtype=np.int64))
            if masked[0] < 0 or masked[-1] >= 2 * self.n_features:
                raise ValueError(f"masked_features must be feature ids within [0, "
                                 f"{2 * self.n_features}), got {masked[0]} … {masked[-1]}")
            self.masked_features = masked
        self.hard_negatives_: int = 0  # negative rows the out-of-fold pass got wrong
        self.random_state = random_state
        self.features_: HashedTfidf | None = None
        self.n_classes_: int = 0
        self.weights_: sparse.csr_matrix | None = None  # features × (folds · classes)
        self.intercepts_: np.ndarray | None = None  # (folds, classes)
        self.sigmoid_a_: np.ndarray | None = None  # (folds, classes)
        self.sigmoid_b_: np.ndarray | None = None

    def get_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "n_features": self.n_features,
            "calibration_folds": self.calibration_folds,
            "hard_negative_weight": self.hard_negative_weight,
            "group_weight_power": self.group_weight_power,
            "negative_class": self.negative_class,
            "masked_features": 0 if self.masked_features is None else len(self.masked_features),
            "random_state": self.random_state,
        }

    def new_features(self) -> HashedTfidf:
        """An unfitted feature extractor with this model's n-grams and feature count."""
        return HashedTfidf(self.word_ngrams, self.char_ngrams, self.n_features)

    def _check_fitted(self) -> None:
        if self.features_ is None or (self.weights_ is None
                                      and getattr(self, "_dense_weights_cache", None) is None):
            raise RuntimeError("the model is not fitted; call fit() first")

    def fit(
        self,
        texts: Sequence[str],
        y: Sequence[int],
        groups: Sequence[str] | None = None,
        n_classes: int | None = None,
        fit_only: Sequence[bool] | None = None,
    ) -> TfidfLinearModel:
        """Fit on prepared texts and integer class ids ``0 … n_classes - 1``.

        ``fit_only`` marks synthetic rows that the SVMs are fitted on but the calibration
        never holds out: the sigmoids are fitted on real listings alone. Such a row should
        share its source listing's group, so it is left out of the fold that holds the
        listing out (a copy would otherwise vouch for its own original).
        """
        # scikit-learn is imported here, not at module level: a fitted model predicts with
        # numpy and scipy alone, and importing scikit-learn cost each scan worker seconds
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import GroupKFold, StratifiedKFold
        from sklearn.svm import LinearSVC

        y = np.asarray(y)
        if len(texts) != len(y):
            raise ValueError(f"{len(texts)} texts but {len(y)} labels")
        present = np.unique(y)
        n_classes = int(n_classes or (present.max() + 1))
        if len(present) != n_classes:
            missing = sorted(set(range(n_classes)) - set(present.tolist()))
            raise ValueError(f"training data has no rows of class id(s) {missing}")
        if self.hard_negative_weight > 0 and self.negative_class >= n_classes:
            raise ValueError(f"negative_class {self.negative_class} has no training rows")
        if self.group_weight_power > 0 and groups is None:
            raise ValueError("group_weight_power needs the rows' groups (vendors); pass groups")
        self.features_ = self.new_features()
        features = self.features_.fit_transform(list(texts))
        svm = LinearSVC(C=self.C, class_weight="balanced", random_state=self.random_state)
        if groups is not None:
            folds = list(GroupKFold(n_splits=self.calibration_folds).split(features, y, groups))
        else:
            folds = list(StratifiedKFold(
                self.calibration_folds, shuffle=True, random_state=self.random_state
            ).split(features, y))
        calibration_folds = folds
        if fit_only is not None:
            synthetic = np.asarray(fit_only, dtype=bool)
            if synthetic.shape != y.shape:
                raise ValueError(f"{len(synthetic)} fit_only flags but {len(y)} labels")
            calibration_folds = [(train, held_out[~synthetic[held_out]])
                                 for train, held_out in folds]
        sample_weight = None
        if self.group_weight_power > 0:
            sample_weight = group_balanced_weights(y, groups, self.group_weight_power)
        if self.hard_negative_weight > 0:
            hard = self._hard_negative_weights(svm, features, y, folds)
            sample_weight = hard if sample_weight is None else sample_weight * hard
        calibrated = CalibratedClassifierCV(svm, method="sigmoid", cv=calibration_folds)
        calibrated.fit(features, y, sample_weight=sample_weight)
        self._compile(calibrated, n_classes)
        if self.masked_features is not None:
            keep = np.ones(self.weights_.shape[0], dtype=np.float32)
            keep[self.masked_features] = 0
            self.weights_ = (sparse.diags(keep) @ self.weights_).tocsr()
            self.weights_.eliminate_zeros()
        return self

    def _hard_negative_weights(self, svm: Any, features: sparse.csr_matrix, y: np.ndarray,
                               folds: Any) -> np.ndarray:
        """Weights that make the negative rows the folds' SVMs got wrong count more.

        Each row is scored by an SVM fitted on the other folds (grouped as for calibration,
        so a re-post cannot vouch for itself); a negative-class row that it assigns to
        another class is a hard negative (a kitchen knife read as a weapon, a protein powder
        read as a drug). Balanced class weights make one row of a small class count as much
        as dozens of negative rows, so a few weapon listings outvote every kitchen knife on
        the word "knife"; a hard negative therefore gets ``hard_negative_weight`` times the
        weight of a row of the class it was mistaken for (never less than 1).

        Only the negative class is mined: its rows come from lawful shops and are labelled
        reliably, while a "hard" illicit row is as often a mislabelled one, and weighting it
        up would teach the noise.
        """
        from sklearn.base import clone
        from sklearn.model_selection import cross_val_predict

        # the folds in parallel: on 2 cores this pass took 5 minutes serially, 2 in parallel
        predicted = cross_val_predict(clone(svm), features, y, cv=folds, n_jobs=2)
        hard = (y == self.negative_class) & (predicted != self.negative_class)
        self.hard_negatives_ = int(hard.sum())
        counts = np.bincount(y).astype(np.float64)
        mistaken_for = counts[self.negative_class] / counts[predicted]
        return np.where(hard, np.maximum(1.0, self.hard_negative_weight * mistaken_for), 1.0)

    def _compile(self, calibrated: CalibratedClassifierCV, n_classes: int) -> None:
        """Collect each fold's SVM weights and sigmoid parameters into plain arrays.

        With two classes each fold has one SVM (for class 1) and one sigmoid.
        """
        blocks, intercepts, a_values, b_values = [], [], [], []
        for fold in calibrated.calibrated_classifiers_:
            estimator = fold.estimator
            if list(estimator.classes_) != list(range(n_classes)):
                raise ValueError("a calibration fold lacks a class; use fewer folds")
            blocks.append(sparse.csr_matrix(estimator.coef_.astype(np.float32)))
            intercepts.append(estimator.intercept_)
            a_values.append([c.a_ for c in fold.calibrators])
            b_values.append([c.b_ for c in fold.calibrators])
        self.n_classes_ = n_classes
        self.weights_ = sparse.vstack(blocks).T.tocsr()
        self.intercepts_ = np.asarray(intercepts, dtype=np.float64)
        self.sigmoid_a_ = np.asarray(a_values, dtype=np.float64)
        self.sigmoid_b_ = np.asarray(b_values, dtype=np.float64)

    def _dense_weights(self) -> np.ndarray:
        """The weights as a dense float32 array, built once per process.

        Sparse features times dense weights is several times faster than sparse times
        sparse; the bundle stores the sparse form (most hashed features never occur).
        """
        dense = getattr(self, "_dense_weights_cache", None)
        if dense is not None:
            return dense
        # the API predicts from several threads: the first calls after a load must not both
        # build the cache, or one would read the sparse form after the other dropped it
        with _DENSE_WEIGHTS_LOCK:
            dense = getattr(self, "_dense_weights_cache", None)
            if dense is None:
                dense = self.weights_.toarray().astype(np.float32)
                self._dense_weights_cache = dense
                # the sparse form is only for saving: drop it (~75 MB in every scan worker
                # and server process) and rebuild it from the dense copy if pickled
                self.weights_ = None
        return dense

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        dense = state.pop("_dense_weights_cache", None)
        if state.get("weights_") is None and dense is not None:
            state["weights_"] = sparse.csr_matrix(dense)  # the same matrix: no zeros stored
        return state

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """SVM margins, shape (n, folds, classes); (n, folds, 1) with two classes."""
        self._check_fitted()
        texts = list(texts)
        margins = self.features_.dot(texts, self._dense_weights()).astype(np.float64)
        folds, columns = self.intercepts_.shape
        return margins.reshape(len(texts), folds, columns) + self.intercepts_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, one column per class id; the mean over folds."""
        self._check_fitted()
        if len(texts) == 0:
            return np.zeros((0, self.n_classes_), dtype=np.float64)
        proba = expit(-(self.sigmoid_a_ * self.decision_function(texts) + self.sigmoid_b_))
        if self.n_classes_ == 2:  # one sigmoid per fold gives P(class 1)
            return np.concatenate([1 - proba, proba], axis=2).mean(axis=1)
        total = proba.sum(axis=2, keepdims=True)
        uniform = np.full_like(proba, 1.0 / self.n_classes_)
        proba = np.divide(proba, total, out=uniform, where=total != 0)
        return proba.mean(axis=1)

    def token_contributions(self, text: str, class_id: int) -> list[tuple[str, float]]:
        """Each word's effect on the class margin: margin with it minus margin without it
        (``model.occlusion``); one batched prediction per listing."""

        def class_margins(variants: Sequence[str]) -> np.ndarray:
            margins = self.decision_function(variants)
            if self.n_classes_ == 2:  # one margin, for class 1; class 0 is its mirror
                sign = 1.0 if class_id == 1 else -1.0
                return sign * margins[:, :, 0].mean(axis=1)
            return margins[:, :, class_id].mean(axis=1)

        return occlusion_contributions(text, class_margins)

    def save(self, directory: Path) -> list[str]:
        joblib.dump(self, Path(directory) / MODEL_FILE, compress=3)
        return [MODEL_FILE]

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any]) -> TfidfLinearModel:
        obj = joblib.load(Path(directory) / MODEL_FILE)
        if not isinstance(obj, cls):
            raise TypeError(f"{MODEL_FILE} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj
