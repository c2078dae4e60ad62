import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from model.baseline import TfidfLinearModel, group_balanced_weights
from model.features import CharNgramHasher, HashedTfidf, WordNgramHasher
from model.text import listing_text
from tests.fixtures import rows

NAMES = ["benign", "drugs", "weapons", "counterfeit", "stolen_data"]


def test_char_ngrams_are_counted_per_text():
    matrix = CharNgramHasher((2, 5), 2**16).transform(["ab", "aaaa", ""])
    # " ab ": 3 bigrams + 2 trigrams + 1 four-gram; " aaaa ": 5 + 4 + 3 + 2
    assert matrix.sum(axis=1).A1.tolist() == [6, 14, 1]
    assert matrix[1].max() == 3  # "aa" three times
    assert matrix.has_canonical_format


def test_word_ngrams_match_the_word_pattern():
    hasher = WordNgramHasher((1, 2), 2**16)
    matrix = hasher.transform(["Glock 19, 2 mags!", "glock 19 2 MAGS", "ünïcode wörd 😀 x", ""])
    assert matrix.sum(axis=1).A1.tolist() == [7, 7, 5, 0]  # 4 words + 3 bigrams, 3 + 2, none
    assert (matrix[0] != matrix[1]).nnz == 0  # case and punctuation do not matter
    swapped = hasher.transform(["aa bb", "bb aa"])
    assert (swapped[0] != swapped[1]).nnz == 2  # same unigrams, different bigram


def test_hashing_is_deterministic_and_batch_independent():
    texts = [listing_text(t) for t, _ in rows()]
    features = HashedTfidf(n_features=2**16).fit(texts)
    whole = features.transform(texts)
    one_by_one = [features.transform([t]) for t in texts]
    for i, row in enumerate(one_by_one):
        assert (whole[i] != row).nnz == 0


@pytest.mark.parametrize("bad", [1000, 3])
def test_n_features_must_be_a_power_of_two(bad):
    with pytest.raises(ValueError, match="power of two"):
        CharNgramHasher((2, 3), bad)


def _compile_against_sklearn(texts: list[str], y: np.ndarray, n_classes: int):
    """A baseline compiled from a scikit-learn calibrated SVM fitted on the same features."""
    model = TfidfLinearModel(n_features=2**16, calibration_folds=2)
    model.features_ = HashedTfidf(model.word_ngrams, model.char_ngrams, model.n_features)
    features = model.features_.fit_transform(texts)
    calibrated = CalibratedClassifierCV(
        LinearSVC(C=model.C, class_weight="balanced", random_state=0), method="sigmoid",
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    ).fit(features, y)
    model._compile(calibrated, n_classes)
    return model, calibrated


def test_compiled_probabilities_equal_scikit_learn():
    data = rows()
    texts = [listing_text(t) for t, _ in data]
    y = np.array([NAMES.index(label) for _, label in data])
    model, calibrated = _compile_against_sklearn(texts, y, len(NAMES))
    probe = [*texts, "something new entirely", "glock mdma rolex fullz"]
    np.testing.assert_allclose(
        model.predict_proba(probe), calibrated.predict_proba(model.features_.transform(probe)),
        rtol=1e-5, atol=1e-6,
    )


def test_fit_refuses_missing_class():
    with pytest.raises(ValueError, match="no rows of class"):
        TfidfLinearModel().fit(["a b", "c d", "e f"], [0, 1, 1], n_classes=3)


def test_token_contributions_point_at_the_evidence(tiny_classifier):
    model = tiny_classifier.model
    weapons = tiny_classifier.labels.index("weapons")
    ranked = model.token_contributions("Glock pistol for the kitchen", weapons)
    top_words = [w for w, _ in ranked[:2]]
    assert "Glock" in top_words or "pistol" in top_words


def test_two_class_model_matches_scikit_learn():
    data = [(t, label) for t, label in rows() if label in ("benign", "drugs")]
    texts = [listing_text(t) for t, _ in data]
    y = np.array([0 if label == "benign" else 1 for _, label in data])
    model, calibrated = _compile_against_sklearn(texts, y, 2)
    probe = [*texts, "cocaine", "garden hose"]
    np.testing.assert_allclose(
        model.predict_proba(probe), calibrated.predict_proba(model.features_.transform(probe)),
        rtol=1e-5, atol=1e-6,
    )
    words = dict(model.token_contributions("cocaine garden hose", 1))
    assert words["cocaine"] > 0 > -words["cocaine"] == dict(
        model.token_contributions("cocaine garden hose", 0))["cocaine"]


def test_idf_equals_scikit_learn_and_old_pickles_still_load():
    import pickle

    from sklearn.feature_extraction.text import TfidfTransformer

    texts = [listing_text(t) for t, _ in rows()]
    features = HashedTfidf(n_features=2**16).fit(texts)
    for hasher, idf in ((features.word, features.word_idf_), (features.char, features.char_idf_)):
        expected = TfidfTransformer(sublinear_tf=True).fit(hasher.transform(texts)).idf_
        np.testing.assert_array_equal(idf, expected)
    # a model pickled before the idf arrays held TfidfTransformer objects
    state = dict(features.__dict__)
    for block in ("word", "char"):
        old = TfidfTransformer(sublinear_tf=True)
        old.idf_ = state.pop(f"{block}_idf_")
        state[f"{block}_tfidf"] = old
    legacy = HashedTfidf.__new__(HashedTfidf)
    legacy.__dict__.update(state)
    restored = pickle.loads(pickle.dumps(legacy))
    assert not hasattr(restored, "word_tfidf")
    assert (restored.transform(texts) != features.transform(texts)).nnz == 0


def test_a_model_that_has_predicted_pickles_the_same_weights():
    import pickle

    data = rows()
    texts = [listing_text(t) for t, _ in data]
    y = np.array([NAMES.index(label) for _, label in data])
    model = TfidfLinearModel(n_features=2**16, calibration_folds=2).fit(texts, y)
    before = model.weights_.copy()
    proba = model.predict_proba(texts)  # builds the dense weights and drops the sparse ones
    restored = pickle.loads(pickle.dumps(model))
    assert (restored.weights_ != before).nnz == 0
    assert restored.weights_.nnz == before.nnz
    np.testing.assert_array_equal(restored.predict_proba(texts), proba)


def test_dot_equals_the_matrix_product_in_both_layouts():
    from model.features import CSC_MIN_TEXTS

    texts = [listing_text(t) for t, _ in rows()]
    features = HashedTfidf(n_features=2**16).fit(texts)
    weights = np.random.default_rng(0).standard_normal((2 * 2**16, 7)).astype(np.float32)
    many = (texts * (CSC_MIN_TEXTS // len(texts) + 2))[: CSC_MIN_TEXTS + 3]
    for batch in (texts[:3], many):  # CSR below the cut, CSC above it
        expected = features.transform(batch) @ weights
        np.testing.assert_array_equal(features.dot(batch, weights), expected)
        assert (features.transform(batch, layout="csc") != features.transform(batch)).nnz == 0


def _knife_rows() -> tuple[list[str], np.ndarray, list[str]]:
    """Weapons are blades sold by length; a few kitchen knives are written the same way."""
    weapons = [f"{kind} knife {n} cm blade {extra}" for n, (kind, extra) in enumerate(
        [("combat", "tactical"), ("tactical", "fixed"), ("hunting", "steel"),
         ("throwing", "set"), ("military", "sheath"), ("bayonet", "rifle"),
         ("fighting", "stealth"), ("survival", "double edge")] * 3, start=10)]
    kitchen = [f"{kind} knife {n} cm blade" for n, kind in enumerate(
        ["chef", "bread", "carving", "santoku", "utility", "boning"], start=12)]
    other = [f"{item} {n} cm" for n, item in enumerate(
        ["cotton towel", "steel spoon", "baking tray", "cutting board", "glass bowl",
         "frying pan", "tea cup", "dinner plate", "saucepan lid", "wooden spatula"] * 3, start=5)]
    texts = weapons + kitchen + other
    y = np.array([1] * len(weapons) + [0] * (len(kitchen) + len(other)))
    groups = [f"g{i}" for i in range(len(texts))]
    return texts, y, groups


def test_hard_negative_weight_counts_misread_benign_rows_more():
    texts, y, groups = _knife_rows()
    plain = TfidfLinearModel(n_features=2**16, calibration_folds=2).fit(texts, y, groups)
    weighted = TfidfLinearModel(n_features=2**16, calibration_folds=2,
                                hard_negative_weight=5).fit(texts, y, groups)
    assert plain.hard_negatives_ == 0  # the pass is skipped by default
    assert 0 < weighted.hard_negatives_ <= 6  # only benign rows are mined
    probe = ["paring knife 9 cm blade"]
    assert weighted.predict_proba(probe)[0, 1] < plain.predict_proba(probe)[0, 1]
    assert weighted.get_params()["hard_negative_weight"] == 5


def test_fit_only_rows_are_fitted_on_and_never_held_out_for_calibration(monkeypatch):
    import sklearn.calibration

    seen = []

    class Recording(CalibratedClassifierCV):
        def fit(self, X, y, **kwargs):
            seen.append(self.cv)
            return super().fit(X, y, **kwargs)

    monkeypatch.setattr(sklearn.calibration, "CalibratedClassifierCV", Recording)
    texts, y, groups = _knife_rows()
    # the last six rows are copies of the first six, in their groups
    texts, y = texts + [t.replace("knife", "") for t in texts[:6]], np.r_[y, y[:6]]
    groups = groups + groups[:6]
    fit_only = np.arange(len(y)) >= len(y) - 6
    TfidfLinearModel(n_features=2**16, calibration_folds=2).fit(texts, y, groups,
                                                                fit_only=fit_only)
    (folds,) = seen
    assert len(folds) == 2
    copies = set(np.flatnonzero(fit_only))
    for train, held_out in folds:
        assert not copies & set(held_out)  # the sigmoids see real listings only
        for copy in copies:  # a copy is fitted on exactly when its listing is
            assert (copy in set(train)) == (copy - (len(y) - 6) in set(train))
    assert sorted(np.r_[folds[0][1], folds[1][1]]) == list(range(len(y) - 6))
    with pytest.raises(ValueError, match="3 fit_only flags but"):
        TfidfLinearModel(n_features=2**16, calibration_folds=2).fit(
            texts, y, groups, fit_only=[True, False, True])


@pytest.mark.parametrize(("params", "message"), [
    ({"hard_negative_weight": -1}, "hard_negative_weight must be >= 0"),
    ({"negative_class": -1}, "negative_class must be a class id"),
])
def test_hard_negative_parameters_are_checked(params, message):
    with pytest.raises(ValueError, match=message):
        TfidfLinearModel(**params)


def test_group_balanced_weights_give_each_vendor_of_a_class_the_same_weight():
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0])
    groups = ["big", "big", "big", "big", "small", "big", "shop", "shop"]
    weights = group_balanced_weights(y, groups, power=1.0)
    # class 1: the big vendor's four rows together weigh as much as the small vendor's one
    assert weights[:4].sum() == pytest.approx(weights[4])
    # class 0: the big vendor's one row of that class is its own group of one
    assert weights[5] == pytest.approx(weights[6:].sum())
    for c in (0, 1):  # every class keeps its total weight
        assert weights[y == c].sum() == pytest.approx((y == c).sum())
    half = group_balanced_weights(y, groups, power=0.5)
    assert half[0] / half[4] == pytest.approx(4 ** -0.5)
    assert group_balanced_weights(y, groups, power=0.0).tolist() == [1.0] * len(y)


def test_group_weighting_needs_groups_and_a_power_within_range():
    with pytest.raises(ValueError, match="group_weight_power must be within"):
        TfidfLinearModel(group_weight_power=1.5)
    texts, y, _ = _knife_rows()
    with pytest.raises(ValueError, match="needs the rows' groups"):
        TfidfLinearModel(n_features=2**16, calibration_folds=2,
                         group_weight_power=0.5).fit(texts, y)
    with pytest.raises(ValueError, match="3 groups but 2 labels"):
        group_balanced_weights(np.array([0, 1]), ["a", "b", "c"], 0.5)


def test_group_weighting_lowers_a_prolific_vendors_hold_on_a_word():
    """One vendor posts twelve 'blade' weapons; six others sell pistols, two rows each."""
    prolific = [f"steel blade model {n}" for n in range(12)]
    others = [f"{kind} pistol {extra}" for kind in ("glock", "beretta", "colt", "sig", "ruger",
                                                    "walther") for extra in ("9mm", "new")]
    benign = [f"kitchen blade {kind}" for kind in ("chef", "bread", "paring", "carving")] + [
        f"{item} for the home" for item in ("towel", "spoon", "tray", "bowl", "pan", "cup",
                                             "plate", "lid", "lamp", "chair", "rug", "vase")]
    texts = prolific + others + benign
    y = np.array([1] * (len(prolific) + len(others)) + [0] * len(benign))
    groups = (["vendor"] * len(prolific) + [f"v{i // 2}" for i in range(len(others))]
              + [f"shop{i}" for i in range(len(benign))])
    weapon_score = [
        TfidfLinearModel(n_features=2**16, calibration_folds=2, group_weight_power=power)
        .fit(texts, y, groups).predict_proba(["utility blade"])[0, 1]
        for power in (0.0, 0.5, 1.0)]
    assert weapon_score[0] > weapon_score[1] > weapon_score[2]
