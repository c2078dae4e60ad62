"""Darknet-register features: chosen from the three kinds of listing, masked in the fit."""

import numpy as np
import pandas as pd
import pytest

from model.baseline import TfidfLinearModel
from model.features import HashedTfidf
from training.baseline import BaselineOptions, register_mask_of
from training.register_mask import RegisterMask, register_features

N = 2**14


def _ids(features: HashedTfidf, text: str) -> set[int]:
    return set(np.flatnonzero(features.document_frequency([text])).tolist())


def test_document_frequency_counts_texts_not_occurrences():
    features = HashedTfidf(n_features=N)  # unfitted: the columns are hashes
    frequency = features.document_frequency(["cheap cheap cheap", "cheap tea", "green tea"])
    assert frequency.shape == (2 * N,)
    cheap = features.document_frequency(["cheap"])
    word_id = int(np.flatnonzero(cheap[:N])[0])  # the word "cheap" in the word block
    assert frequency[word_id] == 2
    assert features.document_frequency([]).sum() == 0


def _listings():
    """Darknet listings, lawful and illicit, both say 'cheap' and 'worldwide'; shops do not.
    'cocaine' is darknet too, but only the illicit side writes it."""
    darknet_lawful = [f"cheap {g} worldwide" for g in
                      ("tobacco", "cigarettes", "grinder", "ebook", "phone", "watch")] * 2
    darknet_illicit = [f"cheap {g} worldwide" for g in
                       ("cocaine", "mdma", "speed", "heroin", "ketamine", "xanax")] * 2
    darknet_illicit += ["cocaine 1g pure", "cocaine 5g pure"]
    shop = [f"{g} pack" for g in ("tobacco", "phone", "watch", "tea", "rice", "soap")] * 2
    return darknet_lawful, darknet_illicit, shop


def test_register_features_are_darknet_on_both_sides_and_class_neutral():
    features = HashedTfidf(n_features=N)
    lawful, illicit, shop = _listings()
    chosen = set(register_features(features, lawful, illicit, shop,
                                   RegisterMask(min_log_odds=0.5, max_spread=0.7)).tolist())
    word = lambda text: {i for i in _ids(features, text) if i < N}  # noqa: E731
    assert word("cheap") <= chosen and word("worldwide") <= chosen
    assert not word("cocaine") & chosen  # says the class, not the market
    assert not word("tobacco") & chosen and not word("pack") & chosen
    stricter = register_features(features, lawful, illicit, shop,
                                 RegisterMask(min_log_odds=0.5, max_spread=0.7, min_rows=50))
    assert len(stricter) == 0  # no feature is in 50 listings of each darknet side


def test_register_features_need_every_kind_and_sane_settings():
    features = HashedTfidf(n_features=N)
    lawful, illicit, _ = _listings()
    with pytest.raises(ValueError, match="none for shop lawful"):
        register_features(features, lawful, illicit, [])
    with pytest.raises(ValueError, match="max_spread must be positive"):
        RegisterMask(max_spread=0)
    with pytest.raises(ValueError, match="min_rows"):
        RegisterMask(min_rows=0)


def test_masked_features_get_no_weight_and_no_say():
    lawful, illicit, shop = _listings()
    texts = lawful + illicit + shop
    y = np.array([0] * len(lawful) + [1] * len(illicit) + [0] * len(shop))
    groups = [f"g{i}" for i in range(len(texts))]
    plain = TfidfLinearModel(n_features=N, calibration_folds=2).fit(texts, y, groups)
    masked_ids = register_features(plain.new_features(), lawful, illicit, shop,
                                   RegisterMask(min_log_odds=0.5, max_spread=0.7))
    masked = TfidfLinearModel(n_features=N, calibration_folds=2,
                              masked_features=masked_ids).fit(texts, y, groups)
    assert masked.get_params()["masked_features"] == len(masked_ids) > 0
    assert not masked._dense_weights()[masked_ids].any()
    probe = ["cheap worldwide"]  # the register alone, nothing offered
    assert masked.predict_proba(probe)[0, 1] < plain.predict_proba(probe)[0, 1]
    # fitted and calibrated as the plain model was: only the masked weights differ
    expected = plain._dense_weights().copy()
    expected[masked_ids] = 0
    np.testing.assert_array_equal(masked._dense_weights(), expected)
    np.testing.assert_array_equal(masked.sigmoid_a_, plain.sigmoid_a_)


def test_masked_feature_ids_are_checked():
    with pytest.raises(ValueError, match="feature ids within"):
        TfidfLinearModel(n_features=2**10, masked_features=[2**11])
    assert TfidfLinearModel(masked_features=[]).masked_features is None


def test_training_takes_the_three_kinds_from_its_own_rows():
    lawful, illicit, shop = _listings()
    frame = pd.DataFrame({
        "text": lawful + illicit + shop + ["cheap worldwide gift"] * 40,
        "label": ["benign"] * len(lawful) + ["drugs"] * len(illicit) + ["benign"] * len(shop)
        + ["benign"] * 40,
        # the last rows have no kind (rows from --extra-train): they must not count, or
        # "cheap" would look like shop writing
        "kind": ["darkweb"] * (len(lawful) + len(illicit)) + ["surface"] * len(shop)
        + [None] * 40,
    })
    options = BaselineOptions(n_features=N, register_mask=0.5, register_mask_spread=0.7)
    masked = register_mask_of(frame, "benign", options)
    features = HashedTfidf(n_features=N)
    assert {i for i in _ids(features, "cheap") if i < N} <= set(masked.tolist())
    assert register_mask_of(frame, "benign", BaselineOptions(register_mask=None)) is None
    # without lawful darknet rows there is no contrast: no mask, rather than a failed run
    shop_and_illicit = frame[~(frame["kind"].eq("darkweb") & frame["label"].eq("benign"))]
    assert register_mask_of(shop_and_illicit, "benign", options) is None
    with pytest.raises(ValueError, match="max_spread must be positive"):
        BaselineOptions(register_mask=0.5, register_mask_spread=0)


def test_register_bias_model_holds_register_evidence_only():
    """The transformer's bias model (product of experts) scores the register, not the goods:
    a darknet-register listing leans illicit, a listing with no register n-gram gets the
    uniform distribution, whatever it offers, and without every kind there is no model."""
    from training.transformer.register_bias import fit_register_bias

    lawful, illicit, shop = _listings()
    frame = pd.DataFrame({
        "text": lawful + illicit + shop,
        "label": ["benign"] * len(lawful) + ["drugs"] * len(illicit) + ["benign"] * len(shop),
        "kind": ["darkweb"] * (len(lawful) + len(illicit)) + ["surface"] * len(shop),
    })
    # fitted on a sample where, as on the real markets, illicit darknet listings outnumber
    # the lawful ones: there the register is evidence of an illicit class
    texts = lawful + illicit * 3 + shop
    y = np.array([0] * len(lawful) + [1] * (3 * len(illicit)) + [0] * len(shop))
    mask = RegisterMask(min_log_odds=0.5, max_spread=0.7)
    bias = fit_register_bias(frame, "benign", texts, y, np.ones(2), mask)
    assert bias is not None and len(bias.columns) > 0
    scores = bias.log_proba(["cheap soap worldwide", "cocaine 1g pure", "rice pack"])
    assert np.allclose(np.exp(scores).sum(axis=1), 1.0)
    lean = scores[:, 1] - np.log(0.5)
    assert lean[0] > 0.1  # the register leans illicit ...
    # ... what is offered is left to the model (a stray shared character n-gram aside)
    assert np.abs(lean[1:]).max() < lean[0] / 3
    no_lawful_darknet = frame[~(frame["kind"].eq("darkweb") & frame["label"].eq("benign"))]
    assert fit_register_bias(no_lawful_darknet, "benign", texts, y, np.ones(2), mask) is None
