"""Fine-tuning against the darknet register: a product of experts with a register-only model.

The baseline keeps the way darknet markets write out of its evidence by fitting with the
register features and then dropping their weights (``training/register_mask.py``). A
transformer has no weights per n-gram to drop, so it gets the same effect the way Clark et
al. (EMNLP 2019, "Don't Take the Easy Way Out") and He et al. (2019) debias a model: a
*bias model* that sees only the register features is fitted first, and during fine-tuning
the loss is taken on ``log_softmax(transformer logits + bias log-probabilities)``. Where the
register already explains a training listing's class, the product is right and the
gradient small; the transformer learns what the register does not explain, the listing's
content. At prediction the bias model is left out, as the baseline leaves out its masked
weights.

The bias model is a logistic regression without intercept on the register columns of the
baseline's hashed TF-IDF features, weighted like the fine-tuning loss: with no intercept it
holds register evidence only, and the class prior stays with the transformer (whose class
offsets are fitted on validation afterwards, as for every transformer).

On the shared data it does not help (``training/EXPERIMENTS.md``, section 9): the register
is too confounded with the class there. It stays an option (``--register-bias``), off.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import spmatrix
from scipy.special import log_softmax

from model.baseline import TfidfLinearModel
from model.features import HashedTfidf
from training.register_mask import RegisterMask, register_features_of

log = logging.getLogger(__name__)


@dataclass
class RegisterBias:
    """A fitted register-only model. ``fitted_log_proba`` holds its log-probabilities for
    the texts it was fitted on (the fine-tuning texts: the bias in the loss), so they are not
    counted again; :meth:`log_proba` scores other texts."""

    features: HashedTfidf
    columns: np.ndarray
    coef: np.ndarray  # (classes, len(columns))
    fitted_log_proba: np.ndarray | None = None

    def _log_proba(self, x: spmatrix) -> np.ndarray:
        return log_softmax(np.asarray(x[:, self.columns] @ self.coef.T, dtype=np.float64),
                           axis=1)

    def log_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self._log_proba(self.features.transform(list(texts)))


def fit_register_bias(
    kind_rows: pd.DataFrame,
    negative: str,
    texts: Sequence[str],
    y: np.ndarray,
    class_weight: np.ndarray,
    mask: RegisterMask,
    C: float = 1.0,
) -> RegisterBias | None:
    """Choose the register features on ``kind_rows`` and fit the bias model on ``texts``.

    The features are the baseline's default hashed n-grams, so both models choose the same
    register features. None (logged) when ``kind_rows`` lack one of the three kinds the
    contrast needs, or no feature passes ``mask``: fine-tuning then goes on without a bias
    model.
    """
    from sklearn.linear_model import LogisticRegression

    features = TfidfLinearModel().new_features()
    columns = register_features_of(kind_rows, negative, features, mask)
    if columns is None:
        return None
    if len(columns) == 0:
        log.warning("no register bias model: no feature passes the register mask")
        return None
    x = features.fit_transform(list(texts))
    model = LogisticRegression(C=C, fit_intercept=False, max_iter=2000)
    model.fit(x[:, columns], y, sample_weight=np.asarray(class_weight)[y])
    coef = np.zeros((len(class_weight), len(columns)))
    coef[model.classes_] = model.coef_ if len(model.classes_) > 2 else np.vstack(
        [-model.coef_[0] / 2, model.coef_[0] / 2])  # a binary fit has one row: class 1's
    log.info("register bias model: %d features, fitted on %d training texts", len(columns),
             len(texts))
    bias = RegisterBias(features, columns, coef)
    bias.fitted_log_proba = bias._log_proba(x)
    return bias
