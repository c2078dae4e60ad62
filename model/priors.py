"""Label-shift adaptation: re-estimate a batch's class mix, then correct its scores.

A bundle's probabilities are calibrated for the class mix of its training data (about half
drugs, half lawful goods). A crawl of one market has a mix of its own: a classifieds site is
nearly all lawful, a darknet drug shop nearly all drugs. When the texts of a class look the
same in the new market and only the mix differs, Bayes' rule gives the corrected posterior

    p'(c | x) ∝ p(c | x) · π'(c) / π(c)

with π the training mix (the bundle's ``source_prior``) and π' the batch's. π' is unknown
but can be estimated from the batch's own unlabelled scores by expectation-maximisation
(Saerens, Latinne & Decaestecker, "Adjusting the outputs of a classifier to new a priori
probabilities", Neural Computation 14, 2002): alternate the correction above with
π' = mean of the corrected posteriors until π' stops moving.

Two ways of estimating π':

- **BBSE** (black-box shift estimation; Lipton, Wang & Smola, "Detecting and correcting for
  label shift with black box predictors", ICML 2018), the default where a bundle records
  its validation confusion matrix C (C[i, j] = share of validation listings predicted i
  whose class is j). The batch's share of listings predicted as each class, q, is C · w,
  w = π'/π, so w is solved for (least squares, negative weights clipped to 0). It only
  counts predicted labels, so scores that are miscalibrated, as they are on text unlike the
  training data's, mislead it less; it still assumes that the model errs on a market's
  listings of each class as it does on validation's.
- **EM** (above). It trusts the scores as likelihoods. On a classifieds site the model has
  never seen, the rows it wrongly calls drugs have tiny lawful scores too; once EM drives
  drugs to zero, their mass flows to the next illicit class, whose estimate EM then raises
  (on Craigslist: stolen data 0.8% → 4.8%, weapons 0.5% → 2.7%; training/EXPERIMENTS.md,
  section 13). Bundles trained before the confusion matrix was recorded can only use EM.

What it needs and what it costs: a batch of listings from one market (hundreds, not one
listing at a time), and calibrated scores. A class the batch seems to lack is driven towards
zero, so a borderline listing of a rare class in a mostly lawful market is pulled towards
lawful; a confident one still stands (its odds are multiplied by π'/π, not replaced).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.bundle import BundleError

# how far a probability row may sum from 1 before the input is refused
_ROW_SUM_TOLERANCE = 1e-3
# a group (market) with fewer rows keeps its scores: too few to estimate a mix from
MIN_GROUP_ROWS = 200
AUTO, BBSE, EM = "auto", "bbse", "em"
METHODS = (AUTO, BBSE, EM)  # auto: BBSE where the bundle records a confusion matrix, else EM


@dataclass(frozen=True)
class PriorAdaptation:
    """The corrected probabilities, the batch's estimated class mix and how EM ended."""

    proba: np.ndarray
    prior: np.ndarray
    iterations: int
    converged: bool
    method: str = EM


@dataclass(frozen=True)
class GroupAdaptation:
    """One group's rows (indices into the batch) and its adaptation; ``result`` is None
    when the group was too small to adapt and kept its scores."""

    rows: np.ndarray
    result: PriorAdaptation | None


def source_prior(proba: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """The class mix a model's scores are calibrated to: the mean of its probabilities on
    in-domain data it did not train on (the validation split), by class name.

    The mean of calibrated probabilities, not the split's label counts, so that what EM
    compares against is what the model itself believes on data like its training data.
    """
    proba = _checked_proba(proba, len(names))
    if len(proba) == 0:
        raise ValueError("a source prior needs at least one row of probabilities")
    mean = proba.mean(axis=0)
    return {name: float(p) for name, p in zip(names, mean / mean.sum(), strict=True)}


def prior_vector(prior: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    """``prior`` (by class name) as a vector in ``names`` order; every class must be there."""
    missing = [n for n in names if n not in prior]
    if missing:
        raise ValueError(f"the prior has no value for class(es) {missing}")
    vector = np.array([float(prior[n]) for n in names], dtype=np.float64)
    if not np.all(np.isfinite(vector)) or np.any(vector <= 0):
        raise ValueError(f"a prior's values must be positive numbers, got {vector.tolist()}")
    return vector / vector.sum()


def parse_prior(spec: str | Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    """A deployment's class mix, as ``"benign=0.97,drugs=0.02,..."`` or a mapping, checked
    against ``names`` (every class named once, no other) and normalised.

    Every share must be positive: a class set to 0 could never be flagged again, whatever
    the listing. For a class a market seems to lack, give a small share (0.001).
    """
    if isinstance(spec, str):
        pairs: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"prior {spec!r}: {part!r} is not CLASS=SHARE")
            try:
                pairs[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"prior {spec!r}: {value.strip()!r} is not a number") from None
        spec = pairs
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise ValueError(f"the prior names unknown class(es) {unknown}; the classes are "
                         f"{list(names)}")
    return prior_vector(spec, names)


def prior_spec(prior: Mapping[str, float], floor: float = 0.001) -> str:
    """``prior`` as :func:`parse_prior` reads it (``"benign=0.971,drugs=0.017,..."``), each
    share at least ``floor``: an estimated 0 would make its class impossible to flag."""
    if not 0 < floor < 1:
        raise ValueError(f"floor must be within (0, 1), got {floor}")
    return ",".join(f"{name}={max(float(share), floor):.4g}" for name, share in prior.items())


def target_weights(spec: str | Mapping[str, float], config: Mapping,
                   names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The target mix ``spec`` (:func:`parse_prior`) and the weights target / training mix
    that correct a bundle's (its ``config``) scores to it; refuses what the bundle cannot
    use (a malformed mix, or a bundle that records no training mix)."""
    target = parse_prior(spec, names)
    return target, target / recorded_source_prior(config, names)


def served_weights(prior: np.ndarray, config: Mapping, names: Sequence[str]) -> np.ndarray:
    """The weights (target / training mix) that serve an estimated mix ``prior`` one listing
    at a time, exactly as ``GET /v1/mix`` suggests it and ``--target-prior`` applies it:
    rounded as shown (:func:`named_shares`), no share under 0.001 (:func:`prior_spec`)."""
    return target_weights(prior_spec(named_shares(prior, names)), config, names)[1]


def named_shares(shares: Sequence[float] | np.ndarray, names: Sequence[str],
                 digits: int = 5) -> dict[str, float]:
    """A class mix as reports and answers show it: by class name, rounded."""
    return {n: round(float(p), digits) for n, p in zip(names, shares, strict=True)}


def named_intervals(low: np.ndarray, high: np.ndarray, names: Sequence[str],
                    digits: int = 5) -> dict[str, list[float]]:
    """:func:`bbse_prior_interval`'s bounds by class name, rounded: ``{name: [low, high]}``."""
    return {n: [round(float(lo), digits), round(float(hi), digits)]
            for n, lo, hi in zip(names, low, high, strict=True)}


def recorded_source_prior(config: Mapping, names: Sequence[str]) -> np.ndarray:
    """The source prior a bundle's config records, as a vector in ``names`` order."""
    raw = config.get("source_prior")
    if raw is None:
        raise BundleError(
            f"bundle {config.get('version', '?')} records no source prior (it predates "
            "label-shift adaptation); retrain it to adapt its scores to a market's class mix")
    return prior_vector(raw, names)


def label_shift_record(proba: np.ndarray, truth: Sequence[int] | np.ndarray,
                       names: Sequence[str]) -> dict[str, object]:
    """What a bundle's config records for adaptation, from its validation scores and labels:
    ``source_prior`` (for EM), ``validation_confusion`` (for BBSE) and ``validation_rows``,
    how many listings the matrix's shares rest on (for BBSE's interval)."""
    return {"source_prior": source_prior(proba, names),
            "validation_confusion": validation_confusion(proba, truth, names),
            "validation_rows": len(truth)}


def recorded_validation_rows(config: Mapping) -> int | None:
    """How many validation listings a bundle's confusion matrix rests on: recorded beside it
    since the twenty-first session, read from the validation metrics for bundles before;
    None where neither says."""
    rows = config.get("validation_rows")
    if rows is None:
        metrics = config.get("metrics")
        validation = metrics.get("validation") if isinstance(metrics, Mapping) else None
        rows = validation.get("rows") if isinstance(validation, Mapping) else None
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        return None
    return rows


def validation_confusion(proba: np.ndarray, truth: Sequence[int] | np.ndarray,
                         names: Sequence[str]) -> dict[str, dict[str, float]]:
    """What BBSE inverts: the share of held-out in-domain listings (the validation split)
    predicted as each class (outer key) whose true class is each class (inner key)."""
    proba = _checked_proba(proba, len(names))
    truth = np.asarray(truth, dtype=np.int64)
    if len(truth) != len(proba):
        raise ValueError(f"{len(truth)} labels but {len(proba)} rows of probabilities")
    if len(truth) == 0 or truth.min() < 0 or truth.max() >= len(names):
        raise ValueError(f"labels must be class ids in [0, {len(names)}), one per row")
    joint = np.zeros((len(names), len(names)))
    np.add.at(joint, (proba.argmax(axis=1), truth), 1.0)
    joint /= len(truth)
    return {p: {t: float(joint[i, j]) for j, t in enumerate(names)}
            for i, p in enumerate(names)}


def confusion_matrix(raw: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    """A recorded :func:`validation_confusion` as a matrix in ``names`` order, checked."""
    try:
        matrix = np.array([[float(raw[p][t]) for t in names] for p in names])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a confusion matrix needs a number for every pair of {list(names)}"
                         f" ({exc!r})") from exc
    if not np.all(np.isfinite(matrix)) or matrix.min() < 0 or abs(matrix.sum() - 1) > 1e-6:
        raise ValueError("a confusion matrix's entries must be shares that sum to 1")
    return matrix


def bbse_adapt(proba: np.ndarray, confusion: np.ndarray) -> PriorAdaptation:
    """The batch ``proba`` corrected to its class mix as BBSE estimates it (see the module
    docstring); ``confusion`` is :func:`confusion_matrix`'s. One linear solve, no iterations.

    The weights w = π'/π are solved for the classes the validation split holds; a class it
    lacks keeps weight 1 (nothing to estimate it from). The scores become p · w, renormalised.
    ``prior`` is the estimated mix, w times the validation mix (0 for a class validation
    lacks). A batch whose every weight comes out non-positive keeps its scores.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    source = confusion.sum(axis=0)
    proba = _checked_proba(proba, len(source))
    if len(proba) == 0:
        return PriorAdaptation(proba.copy(), source.copy(), 0, True, BBSE)
    weights = _bbse_weights(confusion, _predicted_shares(proba))
    prior = weights * source
    if prior.sum() <= 0:
        return PriorAdaptation(proba.copy(), source.copy(), 1, False, BBSE)
    return PriorAdaptation(reweighted(proba, weights), prior / prior.sum(), 1, True, BBSE)


def bbse_mix(shares: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """:func:`bbse_adapt`'s estimated mix from the batch's ``shares`` of predicted labels
    alone (all BBSE reads of a batch), for a caller that keeps counts rather than scores
    (:mod:`model.market_mix`); the validation mix where every weight comes out
    non-positive."""
    confusion = np.asarray(confusion, dtype=np.float64)
    source = confusion.sum(axis=0)
    prior = _bbse_weights(confusion, np.asarray(shares, dtype=np.float64)) * source
    return prior / prior.sum() if prior.sum() > 0 else source.copy()


def bbse_prior_interval(proba: np.ndarray, confusion: np.ndarray, *,
                        validation_rows: int | None = None, rounds: int = 200,
                        level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A percentile interval for :func:`bbse_adapt`'s estimated mix: each of ``rounds``
    rounds redraws the batch's counts of predicted labels (multinomial, the batch's size)
    and solves them as the batch is.

    With ``validation_rows`` (how many listings the confusion matrix was counted from) each
    round also redraws the matrix from that many listings, so the interval covers both
    sources of noise: the batch's own (large for a market of a few hundred rows) and the
    matrix's (the small classes' columns rest on 84–327 validation listings). Without it the
    matrix is held fixed and the interval is too narrow by that much.
    """
    if rounds < 2 or not 0 < level < 1:
        raise ValueError(f"need rounds >= 2 and 0 < level < 1, got {rounds} and {level}")
    if validation_rows is not None and validation_rows < 1:
        raise ValueError(f"validation_rows must be at least 1, got {validation_rows}")
    confusion = np.asarray(confusion, dtype=np.float64)
    source = confusion.sum(axis=0)
    proba = _checked_proba(proba, len(source))
    if len(proba) == 0:
        return source.copy(), source.copy()
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(proba), _predicted_shares(proba), size=rounds) / len(proba)
    if validation_rows is None:
        priors = _bbse_weights(confusion, draws) * source
    else:
        matrices = rng.multinomial(validation_rows, confusion.ravel() / confusion.sum(),
                                   size=rounds).reshape(rounds, *confusion.shape)
        matrices = matrices / validation_rows
        priors = np.array([_bbse_weights(matrix, draw) * matrix.sum(axis=0)
                           for matrix, draw in zip(matrices, draws, strict=True)])
    totals = priors.sum(axis=1, keepdims=True)
    priors = np.divide(priors, totals, out=np.zeros_like(priors), where=totals > 0)[
        totals[:, 0] > 0]
    if len(priors) == 0:
        return np.zeros(len(source)), np.zeros(len(source))
    tail = (1 - level) / 2 * 100
    return np.percentile(priors, tail, axis=0), np.percentile(priors, 100 - tail, axis=0)


def _predicted_shares(proba: np.ndarray) -> np.ndarray:
    """The share of rows whose highest score is each class: all BBSE reads of a batch."""
    return np.bincount(proba.argmax(axis=1), minlength=proba.shape[1]) / len(proba)


def _bbse_weights(confusion: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """w = π'/π solved from ``confusion`` · w = ``shares`` (one batch, or one row per draw),
    negative weights clipped to 0; a class validation lacks keeps weight 1."""
    present = confusion.sum(axis=0) > 0
    weights = np.ones((*shares.shape[:-1], confusion.shape[1]))
    solved = np.linalg.lstsq(confusion[:, present], np.atleast_2d(shares).T, rcond=None)[0]
    weights[..., present] = np.clip(solved.T.reshape(*shares.shape[:-1], -1), 0.0, None)
    return weights


Adapter = Callable[[np.ndarray], PriorAdaptation]
Interval = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Estimator:
    """An adaptation a bundle can do: the method it resolved to, the adaptation, and an
    interval for its estimated mix where the method has one (BBSE), with what noise the
    interval covers."""

    method: str
    adapt: Adapter
    interval: Interval | None = None
    interval_covers: str | None = None
    mix_from_shares: Callable[[np.ndarray], np.ndarray] | None = None  # BBSE: bbse_mix


def adapter(method: str, config: Mapping, names: Sequence[str]) -> Estimator:
    """The adaptation a bundle (its ``config``) can do with ``method`` (one of
    :data:`METHODS`); a bundle that lacks what the method needs raises
    :class:`BundleError` saying so."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    raw = config.get("validation_confusion")
    if method == BBSE or (method == AUTO and raw is not None):
        if raw is None:
            raise BundleError(
                f"bundle {config.get('version', '?')} records no validation confusion matrix "
                "(it predates BBSE); retrain it, or adapt with method 'em'")
        try:
            matrix = confusion_matrix(raw, names)
        except ValueError as exc:
            raise BundleError(f"bundle {config.get('version', '?')}: {exc}") from exc
        rows = recorded_validation_rows(config)
        covers = (f"the batch's counts and the validation matrix's ({rows} listings)"
                  if rows else "the batch's counts only (the bundle does not say how many "
                  "validation listings its matrix rests on)")
        return Estimator(BBSE, lambda proba: bbse_adapt(proba, matrix),
                         lambda proba: bbse_prior_interval(proba, matrix,
                                                           validation_rows=rows),
                         covers, lambda shares: bbse_mix(shares, matrix))
    source = recorded_source_prior(config, names)
    return Estimator(EM, lambda proba: adapt_priors(proba, source))


def adapt_priors(
    proba: np.ndarray,
    source: np.ndarray,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> PriorAdaptation:
    """Estimate the class mix of the batch ``proba`` (rows = listings of one market) by EM
    and return its probabilities corrected to that mix (see the module docstring).

    ``source`` is the mix the scores are calibrated to (:func:`prior_vector`). EM stops when
    no class's estimate moves by more than ``tol``, or after ``max_iter`` rounds.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    source = np.asarray(source, dtype=np.float64)
    if source.ndim != 1 or np.any(source <= 0):
        raise ValueError("the source prior must be a vector of positive numbers")
    source = source / source.sum()
    proba = _checked_proba(proba, len(source))
    if len(proba) == 0:
        return PriorAdaptation(proba.copy(), source.copy(), 0, True)
    prior = source.copy()
    ratio_base = proba / source
    for iteration in range(1, max_iter + 1):
        adapted = reweighted(ratio_base, prior)
        estimate = adapted.mean(axis=0)
        moved = float(np.abs(estimate - prior).max())
        prior = estimate
        if moved <= tol:
            return PriorAdaptation(reweighted(ratio_base, prior), prior, iteration, True)
    return PriorAdaptation(reweighted(ratio_base, prior), prior, max_iter, False)


def adapt_groups(
    proba: np.ndarray, groups: np.ndarray, adapt: Adapter, *,
    min_rows: int = MIN_GROUP_ROWS,
) -> tuple[np.ndarray, dict[str, GroupAdaptation]]:
    """``adapt`` (see :func:`adapter`) applied to each group of rows (``groups`` names each
    row's market) on its own; groups under ``min_rows`` keep their scores. Returns the whole
    batch's scores and, by group name in sorted order, its rows and its adaptation."""
    if min_rows < 1:
        raise ValueError(f"min_rows must be at least 1, got {min_rows}")
    proba = np.asarray(proba, dtype=np.float64)
    keys, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")  # one sort, not one pass over all rows per group
    sizes = np.bincount(inverse, minlength=len(keys))
    adapted = proba.copy()
    result: dict[str, GroupAdaptation] = {}
    for key, stop, size in zip(keys, np.cumsum(sizes), sizes, strict=True):
        rows = order[stop - size:stop]
        fitted = adapt(proba[rows]) if size >= min_rows else None
        if fitted is not None:
            adapted[rows] = fitted.proba
        result[str(key)] = GroupAdaptation(rows, fitted)
    return adapted, result


def reweighted(ratio_base: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """p(c|x)·π'(c)/π(c), renormalised per row (``ratio_base`` = p(c|x)/π(c), ``prior`` =
    π'; or ``ratio_base`` = p(c|x) and ``prior`` = the weights π'(c)/π(c)): every change of
    a score's class mix (adaptation, a target prior and taking one out) goes through it."""
    weighted = ratio_base * prior
    total = weighted.sum(axis=1, keepdims=True)
    # a row whose every class the estimate has ruled out keeps no information: uniform
    uniform = np.full_like(weighted, 1.0 / weighted.shape[1])
    return np.divide(weighted, total, out=uniform, where=total > 0)


def _checked_proba(proba: np.ndarray, n_classes: int) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != n_classes:
        raise ValueError(f"probabilities must have shape (rows, {n_classes}), got {proba.shape}")
    if len(proba) and (not np.all(np.isfinite(proba)) or proba.min() < 0):
        raise ValueError("probabilities must be finite and non-negative")
    if len(proba) and np.abs(proba.sum(axis=1) - 1).max() > _ROW_SUM_TOLERANCE:
        raise ValueError("each row of probabilities must sum to 1")
    return proba
