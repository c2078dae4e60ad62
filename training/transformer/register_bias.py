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

from model.features import HashedTfidf
from training.register_mask import RegisterMask, register_features, register_kinds

log = logging.getLogger(__name__)

HASHED_FEATURES = 2**19  # the baseline's default, so both models choose the same n-grams


@dataclass
class RegisterBias:
    """A fitted register-only model: :meth:`log_proba` gives the bias for each text."""

    features: HashedTfidf
    columns: np.ndarray
    coef: np.ndarray  # (classes, len(columns))

    def log_proba(self, texts: Sequence[str]) -> np.ndarray:
        x = self.features.transform(list(texts))[:, self.columns]
        z = np.asarray(x @ self.coef.T, dtype=np.float64)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


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

    None (logged) when ``kind_rows`` lack one of the three kinds the contrast needs, or no
    feature passes ``mask``: fine-tuning then goes on without a bias model.
    """
    from sklearn.linear_model import LogisticRegression

    kinds = register_kinds(kind_rows, negative)
    if not all(kinds):
        log.warning("no register bias model: the training rows need lawful and illicit "
                    "darknet listings and lawful shop listings")
        return None
    features = HashedTfidf(n_features=HASHED_FEATURES)
    columns = register_features(features, *kinds, mask)
    if len(columns) == 0:
        log.warning("no register bias model: no feature passes the register mask")
        return None
    x = features.fit_transform(list(texts))[:, columns]
    n_classes = len(class_weight)
    present = np.unique(y)
    model = LogisticRegression(C=C, fit_intercept=False, max_iter=2000)
    model.fit(x, y, sample_weight=np.asarray(class_weight)[y])
    coef = np.zeros((n_classes, len(columns)))
    coef[model.classes_] = model.coef_ if len(present) > 2 else np.vstack(
        [-model.coef_[0] / 2, model.coef_[0] / 2])
    log.info("register bias model: %d features, fitted on %d training texts", len(columns),
             len(texts))
    return RegisterBias(features, columns, coef)
