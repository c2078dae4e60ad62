"""Training the baseline (TF-IDF + calibrated linear SVM) into a bundle."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.dataset import labels_of, load_splits, read_info
from data.supplements import chosen_supplements, load_supplements
from model import Classifier, registry
from model.baseline import TfidfLinearModel, check_row_weighting
from model.labels import LabelSet
from model.priors import label_shift_record
from model.text import DEFAULT_MAX_DESCRIPTION_CHARS, listing_text
from model.thresholds import choose_thresholds
from training.augment import (
    augment_training_rows,
    check_description_dropout,
    drop_descriptions,
    small_class_copies,
)
from training.card import render_model_card
from training.cue_copies import CueCopyOptions, copies_text, cue_copies
from training.lookalike_copies import (
    check_lookalike_copies,
    lookalike_copies,
    lookalike_copies_text,
)
from training.metrics import classification_metrics, groups_of, to_ids
from training.register import register_copies
from training.register_mask import RegisterMask, register_features_of

log = logging.getLogger(__name__)
EVAL_SPLITS = ("validation", "test", "oot", "cross_market")


# Options a bundle may not record whose default has since changed, with the value every such
# bundle was trained with: look-alike copies did not exist before the option was recorded.
UNRECORDED_OPTIONS: dict[str, Any] = {"lookalike_copies": 0}


@dataclass
class BaselineOptions:
    C: float = 0.5
    n_features: int = 2**19
    max_per_class: int | None = None  # cap training rows per class (quick runs, tests)
    augment: float = 0.5  # share of training rows added again as obfuscated copies
    augment_floor: int = 3000  # small classes get more copies, up to this many (3 per row)
    register: float = 1.5  # share of benign rows added again in a classifieds register
    max_description_chars: int = DEFAULT_MAX_DESCRIPTION_CHARS  # description prefix kept
    description_dropout: float = 0.0  # share of described training rows shown by title alone
    calibration_folds: int = 3
    hard_negative_weight: float = 0.0  # benign rows the out-of-fold SVMs misread, weighted
    # as this share of a row of the class they were mistaken for (0 = off)
    group_weight_power: float = 0.0  # a row weighs (its vendor's rows in its class) ** -power
    # copies of illicit rows without the words that name their class (training.cue_copies):
    # this many words per class (0 = no copies), each held at least this share by the class
    cue_words: int = 10
    cue_precision: float = 0.9
    cue_min_rows: int = 20  # ... and in at least this many of its titles
    # short copies of the train split's lawful look-alikes (training.lookalike_copies), each
    # this many times (0 = none)
    lookalike_copies: int = 1
    # drop the darknet-register features (training.register_mask) chosen at this log-odds
    # over shops, and this spread between darknet classes, after the fit; None = keep them
    register_mask: float | None = 0.5
    register_mask_spread: float = 0.5
    block_precision: float = 0.95
    review_recall: float = 0.95
    block_floor: float = 0.5
    review_floor: float = 0.2
    seed: int = 0
    # training-only rows built with the dataset, by name; None: the policy's defaults
    supplements: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # checked here too, so a bad value fails before minutes of data loading
        check_row_weighting(self.hard_negative_weight, self.group_weight_power)
        CueCopyOptions.of(self)
        if self.register_mask is not None:
            RegisterMask(self.register_mask, self.register_mask_spread)
        check_description_dropout(self.description_dropout)
        check_lookalike_copies(self.lookalike_copies)

    @classmethod
    def of_bundle(cls, config: dict[str, Any]) -> BaselineOptions:
        """The options a baseline bundle was trained with (its ``training.options``).

        Options added after the bundle was trained take the value that reproduces its recipe:
        :data:`UNRECORDED_OPTIONS` where the option's default is no longer that value, else
        the default. A bundle that records no options (trained before they were recorded) is
        refused.
        """
        recorded = config.get("training", {}).get("options")
        if not isinstance(recorded, dict):
            raise ValueError(f"bundle {config.get('version')} records no training options, so "
                             "its recipe cannot be retrained; retrain it with this version")
        known = {f.name for f in fields(cls)}
        options = {**UNRECORDED_OPTIONS, **{k: v for k, v in recorded.items() if k in known}}
        if options.get("supplements") is not None:
            options["supplements"] = tuple(options["supplements"])
        return cls(**options)


def prepared_texts(frame: pd.DataFrame, max_description_chars: int) -> list[str]:
    """Model input for dataset rows, rebuilt from title and description.

    The dataset's ``text`` column is prepared with the default description length; a model
    trained with another length must see (and later be served) its own.
    """
    if max_description_chars == DEFAULT_MAX_DESCRIPTION_CHARS and "text" in frame:
        return frame["text"].tolist()
    return [
        listing_text(t, d if isinstance(d, str) else None, max_description_chars)
        for t, d in zip(frame["title"], frame["description"], strict=True)
    ]


def read_extra_training(
    paths: list[Path], labels: LabelSet,
    max_description_chars: int = DEFAULT_MAX_DESCRIPTION_CHARS,
) -> pd.DataFrame:
    """Extra labelled rows (e.g. `contraband feedback export`): title, description?, label."""
    from data.sources import read_any

    frames = []
    for path in paths:
        frame = read_any(Path(path))
        missing = {"title", "label"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: extra training data needs columns {sorted(missing)}")
        unknown = set(frame["label"]) - set(labels.names)
        if unknown:
            raise ValueError(f"{path}: labels {sorted(unknown)} are not classes {labels.names}")
        untitled = [i for i, t in enumerate(frame["title"])
                    if not isinstance(t, str) or not t.strip()]
        if untitled:  # str(NaN) would otherwise be trained on as the text "nan"
            raise ValueError(f"{path}: {len(untitled)} row(s) have no title (data rows "
                             f"{', '.join(str(i + 1) for i in untitled[:5])}"
                             f"{', …' if len(untitled) > 5 else ''}); every row needs one")
        description = frame["description"] if "description" in frame else [None] * len(frame)
        frames.append(pd.DataFrame({
            "text": [listing_text(str(t), d if isinstance(d, str) else None,
                                  max_description_chars)
                     for t, d in zip(frame["title"], description, strict=True)],
            "label": frame["label"].astype(str),
            "group": [f"extra:{Path(path).name}:{i}" for i in range(len(frame))],
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["text", "label", "group"]
    )


def register_mask_of(train: pd.DataFrame, negative: str,
                     options: BaselineOptions) -> np.ndarray | None:
    """The darknet-register feature ids to drop, from the training rows' own kinds (rows
    without a kind, such as ``--extra-train`` rows, are left out); None when off, or when
    the rows lack a kind the contrast needs (logged)."""
    if options.register_mask is None:
        return None
    masked = register_features_of(
        train, negative, TfidfLinearModel(n_features=options.n_features).new_features(),
        RegisterMask(options.register_mask, options.register_mask_spread))
    if masked is None:
        return None
    log.info("dropping %d darknet-register features after the fit", len(masked))
    return masked


def cap_per_class(frame: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    """At most ``cap`` rows of each class, drawn reproducibly; row order kept."""
    if cap < 1:
        raise ValueError(f"max_per_class must be positive, got {cap}")
    keep = frame.groupby("label", group_keys=False).apply(
        lambda rows: rows.sample(min(cap, len(rows)), random_state=seed)
    ).index
    return frame.loc[sorted(keep)].reset_index(drop=True)


def evaluate_splits(
    classifier: Classifier, splits: dict[str, pd.DataFrame]
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Metrics and (truth, probabilities) for each split of prepared texts."""
    results, predictions = {}, {}
    for name, frame in splits.items():
        if frame.empty:
            continue
        y = to_ids(frame["label"], classifier.labels)
        texts = prepared_texts(frame, int(classifier.config["max_description_chars"]))
        proba = classifier.predict_proba_texts(texts)
        results[name] = classification_metrics(y, proba, classifier.labels, groups_of(frame))
        predictions[name] = (y, proba)
    return results, predictions


def train_baseline(
    dataset: Path,
    models_root: Path | None = None,
    options: BaselineOptions | None = None,
    *,
    extra: list[Path] = (),
    name: str | None = None,
    make_default: bool | None = None,
    exclude_groups: Collection[str] = (),
) -> Path:
    """Fit, choose thresholds on validation, evaluate, and save a bundle; returns its path.

    Whether it becomes the default: see :func:`model.registry.adopt_if_best`.
    ``exclude_groups``: groups (vendors, near-duplicate clusters) whose train-split rows are
    left out, for refits that must not see some rows (the suite's cross-fitted hard
    negatives); the bundle records how many rows that removed.
    """
    options = options or BaselineOptions()
    registry.require_new_name(name, models_root)
    info = read_info(dataset)
    options = replace(options, supplements=chosen_supplements(options.supplements, info))
    labels = labels_of(dataset)
    splits = load_splits(dataset, ["train", *EVAL_SPLITS])
    excluded = splits["train"]["group"].isin(set(exclude_groups))
    splits["train"] = splits["train"][~excluded].reset_index(drop=True)
    train = splits["train"][["label", "group", "kind"]].assign(text=drop_descriptions(
        splits["train"], prepared_texts(splits["train"], options.max_description_chars),
        options.description_dropout, options.seed + 2))
    if options.max_per_class:
        train = cap_per_class(train, options.max_per_class, options.seed)
    supplement_rows, supplement_provenance = load_supplements(dataset, options.supplements,
                                                              info)
    for rows in supplement_rows.values():
        train = pd.concat([train, rows[["label", "group", "kind"]].assign(
            text=prepared_texts(rows, options.max_description_chars))], ignore_index=True)
    listings = splits["train"]
    if options.max_per_class:  # the same rows as the capped ``train``
        listings = cap_per_class(listings, options.max_per_class, options.seed)
    copies, cues = cue_copies(pd.concat([listings, *supplement_rows.values()], ignore_index=True),
                              labels.negative, CueCopyOptions.of(options), options.seed)
    extra_rows = read_extra_training(list(extra), labels, options.max_description_chars)
    lookalikes = lookalike_copies(listings, labels.negative, options.lookalike_copies,
                                  options.max_description_chars)
    added = [rows for rows in (extra_rows, lookalikes) if len(rows)]
    if added:
        train = pd.concat([train, *added], ignore_index=True)
    masked = register_mask_of(train, labels.negative, options)
    augmented = pd.concat([
        augment_training_rows(train, seed=options.seed, fraction=options.augment),
        small_class_copies(train, seed=options.seed, fraction=options.augment,
                           floor=options.augment_floor),
    ], ignore_index=True)
    restyled = register_copies(train, label=labels.negative, fraction=options.register,
                               seed=options.seed)
    # the cue-word copies come last: they are fitted on, never calibrated on (fit_only below)
    train = pd.concat([train, augmented, restyled, copies[["label", "group"]].assign(
        text=prepared_texts(copies, options.max_description_chars))], ignore_index=True)
    log.info("training baseline on %d rows (%d from supplements, %d extra, %d look-alike "
             "copies, %d augmented, %d restyled, %d without cue words)", len(train),
             sum(map(len, supplement_rows.values())), len(extra_rows), len(lookalikes),
             len(augmented), len(restyled), len(copies))
    started = time.perf_counter()
    model = TfidfLinearModel(
        C=options.C, n_features=options.n_features,
        calibration_folds=options.calibration_folds, random_state=options.seed,
        hard_negative_weight=options.hard_negative_weight,
        group_weight_power=options.group_weight_power,
        negative_class=labels.index(labels.negative), masked_features=masked,
    ).fit(train["text"].tolist(), to_ids(train["label"], labels),
          groups=train["group"].tolist(), n_classes=len(labels),
          fit_only=np.arange(len(train)) >= len(train) - len(copies))
    fit_seconds = time.perf_counter() - started
    if options.hard_negative_weight > 0:
        log.info("%d hard negatives weighted up", model.hard_negatives_)

    created = dt.datetime.now(dt.UTC)
    version = name or f"baseline-{created.strftime('%Y%m%d-%H%M%S')}"
    classifier = Classifier(model, labels, config={
        "version": version, "max_description_chars": options.max_description_chars})
    # metrics are argmax-based, so evaluating before thresholds exist is the same; the
    # validation probabilities then serve both the metrics and the threshold choice
    results, predictions = evaluate_splits(classifier, {s: splits[s] for s in EVAL_SPLITS})
    if "validation" not in predictions:
        raise ValueError(f"{dataset} has no validation rows; thresholds are chosen on them")
    val_truth, val_proba = predictions["validation"]
    classifier.thresholds = choose_thresholds(
        val_proba, val_truth, labels,
        block_precision=options.block_precision, review_recall=options.review_recall,
        block_floor=options.block_floor, review_floor=options.review_floor,
    )
    classifier.config.update(
        created_at=created.isoformat(),
        dataset={"name": info["name"], "path": str(dataset), "fingerprint": info["fingerprint"],
                 "train_rows": len(train), "extra_rows": len(extra_rows),
                 "lookalike_copies": len(lookalikes),
                 "cue_copies": len(copies),
                 "supplements": supplement_provenance,
                 "augmented_rows": len(augmented), "restyled_rows": len(restyled),
                 **({"excluded_rows": int(excluded.sum())} if len(exclude_groups) else {})},
        policy=info["policy"],
        metrics=results,
        **label_shift_record(val_proba, val_truth, labels.names),
        training={"options": asdict(options), "fit_seconds": round(fit_seconds, 1),
                  "hard_negatives": model.hard_negatives_,
                  "cue_words": cues,
                  "masked_features": 0 if masked is None else len(masked),
                  "extra_files": [str(p) for p in extra]},
        threshold_targets={"block_precision": options.block_precision,
                           "review_recall": options.review_recall,
                           "block_floor": options.block_floor,
                           "review_floor": options.review_floor},
    )
    card = render_model_card(
        {**classifier.bundle_config(), "dataset": {**classifier.config["dataset"],
                                                   "train_rows": len(train)}},
        labels,
        "Hashed word (1–2) and character (2–5) n-gram TF-IDF into a linear SVM with balanced class "
        "weights; sigmoid-calibrated on vendor-grouped folds." + ("" if masked is None else (
            f" The {len(masked)} features that mark the darknet way of writing (held as often "
            "by the markets' lawful listings as by their illicit ones, and far more often "
            "than by shop listings) were fitted and calibrated with, then given no weight.")) + (
            "" if copies.empty else (
                f" Training also held {copies_text(len(copies), cues)}, so that a listing "
                "without those words is still read by its other words.")) + (
            "" if lookalikes.empty else f" It held {lookalike_copies_text(len(lookalikes))}."),
    )
    root = registry.models_dir(models_root)
    path = classifier.save(root / version, card=card)
    log.info("saved %s (fit %.1fs); %s", path, fit_seconds,
             registry.adopt_if_best(path, make_default, root))
    return path
