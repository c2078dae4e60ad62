"""``contraband train`` and ``contraband evaluate``."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from training.supplement_options import add_supplement_arguments, supplements_from_args

MODEL_KINDS = ["baseline", "transformer", "cascade"]
TRAINED = frozenset({"baseline", "transformer"})
# The model kinds that read an option, where its argparse group does not say it: options
# both trainers read, and those declared outside the three groups. An option in none of the
# groups and not listed here applies to every kind.
READERS = {
    "augment": TRAINED, "register": TRAINED, "description_dropout": TRAINED,
    "block_precision": TRAINED,
    "review_recall": TRAINED, "seed": TRAINED, "supplement": TRAINED,
    "no_supplements": TRAINED, "extra_train": frozenset({"baseline"}),
    "cue_words": TRAINED, "cue_precision": TRAINED, "lookalike_copies": TRAINED,
}
# why a kind takes no training options, added to its refusal
REFUSAL_REASON = {"cascade": "; a cascade combines bundles already trained"}


def _has_transformer_training() -> bool:
    return importlib.util.find_spec("training.transformer") is not None


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a model into a bundle",
        description=(
            "Train on the built dataset (`contraband data build` first). The bundle is saved "
            "in the models folder ($CONTRABAND_MODELS or artifacts/models) and becomes the "
            "default if there is none yet, or if it was trained on the same dataset as the "
            "default and scores a higher validation macro-F1 (see --set-default, "
            "--no-default)."
        ),
    )
    train.add_argument("--model", choices=MODEL_KINDS, default="baseline",
                       help="model kind (default baseline)")
    train.add_argument("--dataset", help="built dataset folder (default artifacts/data/default)")
    train.add_argument("--models-dir", help="models folder")
    train.add_argument("--name", help="bundle name (default KIND-YYYYmmdd-HHMMSS)")
    train.add_argument("--extra-train", action="append", default=[], metavar="FILE",
                       help="extra labelled rows (title, description, label), e.g. the output "
                            "of `contraband feedback export`; repeatable")
    add_supplement_arguments(train)
    default = train.add_mutually_exclusive_group()
    default.add_argument("--set-default", dest="make_default", action="store_true",
                         default=None, help="make the new bundle the default")
    default.add_argument("--no-default", dest="make_default", action="store_false",
                         help="never make the new bundle the default")
    group = train.add_argument_group("baseline options")
    group.add_argument("--C", type=float, default=0.5, help="SVM regularisation (default 0.5)")
    group.add_argument("--hash-bits", type=int, default=19,
                       help="log2 of hashed features per block (default 19)")
    group.add_argument("--block-precision", type=float, default=0.95,
                       help="validation precision each illicit class's block threshold "
                            "must reach (default 0.95)")
    group.add_argument("--review-recall", type=float, default=0.95,
                       help="validation recall kept by the review threshold (default 0.95)")
    group.add_argument("--max-per-class", type=int, default=None,
                       help="cap training rows per class (default: no cap)")
    group.add_argument("--calibration-folds", type=int, default=3)
    group.add_argument("--hard-negative-weight", type=float, default=None, metavar="SHARE",
                       help="baseline: a benign row that out-of-fold SVMs assign to an illicit "
                            "class weighs SHARE times a row of that class in the final fit "
                            "(0 = off; costs one more pass of fold fits)")
    group.add_argument("--register-mask", type=_log_odds_or_off, default=None,
                       metavar="LOG_ODDS|off",
                       help="baseline: fit with the n-grams that darknet listings, lawful and "
                            "illicit alike, hold at least e**LOG_ODDS times as often as shop "
                            "listings, then drop their weights, so the way a market writes is "
                            "not evidence (default 0.5; off to keep them)")
    group.add_argument("--register-mask-spread", type=float, default=None, metavar="LOG_ODDS",
                       help="baseline: ... and whose rates in lawful and illicit darknet "
                            "listings differ by less than e**LOG_ODDS times (default 0.5)")
    group.add_argument("--group-weight-power", type=float, default=None, metavar="POWER",
                       help="baseline: a row weighs n ** -POWER, n = its vendor's rows of its "
                            "class, so prolific vendors do not speak for a class (0 = off, "
                            "1 = every vendor alike)")
    group.add_argument("--cue-words", type=int, default=None, metavar="N",
                       help="add copies of the illicit listings with the N words that most "
                            "often name their class deleted, so other words are learnt too "
                            "(0 = no copies; default 10 for the baseline, 0 for the "
                            "transformer)")
    group.add_argument("--cue-precision", type=float, default=None, metavar="SHARE",
                       help="... a cue word's titles are at least SHARE its class's "
                            "(default 0.9)")
    group.add_argument("--lookalike-copies", type=int, default=None, metavar="N",
                       help="add N copies of the look-alike word with its "
                            "neighbours ('Pointed Knife 10') from each of the training "
                            "split's lawful look-alikes (kitchen knives, genuine watches, "
                            "vitamins, gift cards: training/suite/hard_negatives.toml), so a "
                            "bare product word is not read as illicit (0 = no copies; "
                            "default 1 for the baseline, 0 for the transformer)")
    group.add_argument("--max-description-chars", type=int, default=None,
                       help="description prefix the model sees (baseline default 400)")
    group.add_argument("--augment", type=float, default=None, metavar="FRACTION",
                       help="add this share of training rows again as obfuscated copies "
                            "(leetspeak, typos twice over, boilerplate, decoration); 0 to "
                            "disable (default 0.5 for the baseline; 0 for the transformer, "
                            "whose CPU default must stay within 45 minutes)")
    group.add_argument("--augment-floor", type=int, default=None, metavar="ROWS",
                       help="a small class gets extra obfuscated copies until it has this "
                            "many (at most 3 per row); 0 to disable (baseline default 3000)")
    group.add_argument("--register", type=float, default=None, metavar="FRACTION",
                       help="add this share of benign rows again with titles rewritten in a "
                            "classifieds register (capitals, '!!!', prices, 'for sale'), so "
                            "writing style stops passing for evidence; 0 to disable "
                            "(default 1.5 for the baseline, 0.5 for the transformer)")
    group.add_argument("--description-dropout", type=float, default=None, metavar="SHARE",
                       help="share of training listings that have a description shown by "
                            "title alone, so the model cannot learn 'has a description' as a "
                            "sign of a shop (default 0 for the baseline, 0.5 for the "
                            "transformer)")
    transformer = None
    if _has_transformer_training():
        from training.transformer.options import add_transformer_arguments

        transformer = add_transformer_arguments(train)
    cascade = train.add_argument_group("cascade options (--model cascade)")
    cascade.add_argument("--cascade-baseline", default="baseline",
                         help="baseline bundle to answer confident listings (default: newest)")
    cascade.add_argument("--cascade-transformer", default="transformer",
                         help="transformer bundle for the rest (default: newest)")
    cascade.add_argument("--cascade-max-routed", type=float, default=0.3, metavar="SHARE",
                         help="most of the validation listings the cut may send to the "
                              "transformer: the throughput budget. Real traffic from unseen "
                              "markets is routed about three times as often as validation "
                              "(default 0.3)")
    cascade.add_argument("--cascade-tolerance", type=float, default=0.002, metavar="F1",
                         help="the cut routing the fewest listings among those within this "
                              "much validation macro-F1 of the best (default 0.002)")
    if "--seed" not in train._option_string_actions:  # shared with the transformer options
        train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.set_defaults(handler=_train,
                       option_readers=_option_readers(train, group, transformer, cascade))

    evaluate = subparsers.add_parser(
        "evaluate",
        help="evaluate a bundle on validation, test and the out-of-domain splits",
        description="Writes report.md, metrics.json, confusion-matrix and PR-curve PNGs.",
    )
    evaluate.add_argument("bundle", nargs="?", default="default",
                          help="bundle name, path or kind (default: the default bundle)")
    evaluate.add_argument("--dataset", help="built dataset folder")
    evaluate.add_argument("--output", help="report folder (default artifacts/reports/VERSION)")
    evaluate.add_argument("--splits", default="validation,test,oot,cross_market",
                          help="comma-separated splits to evaluate (and to pair with "
                               "--compare)")
    evaluate.add_argument("--suite", metavar="SECTIONS",
                          help="run the evaluation suite instead: 'all' or comma-separated "
                               "crossmarket, transfer, ablation, robustness, hard_negatives, "
                               "calibration, label_shift, explanations (writes report.html, "
                               "suite.json)")
    evaluate.add_argument("--compare", nargs=2, metavar=("A", "B"),
                          help="put two suite runs (folders) or bundles side by side; where "
                               "both bundles load, also score them on the same rows of "
                               "--splits and give B − A with a paired vendor-bootstrap "
                               "interval (--suite none: that alone, no suite sections)")
    evaluate.add_argument("--robustness-rows", type=_positive_int, metavar="N",
                          help="perturb a seeded sample of N test rows instead of all of them "
                               "(a transformer on a CPU scores ~300 listings/s, and the "
                               "robustness section scores the test split ten times)")
    evaluate.add_argument("--hard-negative-folds", type=_positive_int, metavar="K",
                          help="also score the train split's lawful look-alikes, each by one "
                               "of K refits of the bundle's recipe that left its fold out, and "
                               "pool them with the held-out rows (baseline bundles; K full "
                               "trainings, ~2 minutes each on the shared data)")
    evaluate.set_defaults(handler=_evaluate)


def _option_readers(
    train: argparse.ArgumentParser,
    baseline: argparse._ArgumentGroup,
    transformer: argparse._ArgumentGroup | None,
    cascade: argparse._ArgumentGroup,
) -> dict[str, tuple[str, object, frozenset[str]]]:
    """For each option that not every kind reads: its flag, its default and its readers."""
    group_readers = {id(action): frozenset({kind})
                     for group, kind in ((baseline, "baseline"), (transformer, "transformer"),
                                         (cascade, "cascade")) if group is not None
                     for action in group._group_actions}
    readers = {}
    for action in train._actions:
        kinds = READERS.get(action.dest, group_readers.get(id(action)))
        if kinds is not None:
            readers[action.dest] = (action.option_strings[0], action.default, kinds)
    return readers


def refuse_options_for_other_kinds(args: argparse.Namespace) -> None:
    """Refuse options that the chosen ``--model`` kind would silently ignore.

    ``--model transformer --group-weight-power 1`` used to train a transformer as if the
    option were not there; a researcher comparing runs would believe it had been applied.
    """
    ignored = sorted(flag for dest, (flag, default, kinds) in args.option_readers.items()
                     if args.model not in kinds and getattr(args, dest, default) != default)
    if ignored:
        raise ValueError(f"--model {args.model} does not use {', '.join(ignored)}: these "
                         f"options apply to other model kinds (see `contraband train --help`)"
                         f"{REFUSAL_REASON.get(args.model, '')}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _log_odds_or_off(value: str) -> float | str:
    if value == "off":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', got {value!r}") from None


def _train(args: argparse.Namespace) -> int:
    from data.dataset import dataset_dir  # pandas: imported only when a command needs it

    refuse_options_for_other_kinds(args)
    dataset = dataset_dir(args.dataset)
    if args.model == "baseline":
        from training.baseline import BaselineOptions, train_baseline

        # options shared with the transformer default to None: unset means the kind's default
        unset_means_default = {k: v for k, v in (("augment", args.augment),
                                                 ("augment_floor", args.augment_floor),
                                                 ("register", args.register),
                                                 ("description_dropout",
                                                  args.description_dropout),
                                                 ("hard_negative_weight",
                                                  args.hard_negative_weight),
                                                 ("group_weight_power",
                                                  args.group_weight_power),
                                                 ("cue_words", args.cue_words),
                                                 ("cue_precision", args.cue_precision),
                                                 ("lookalike_copies", args.lookalike_copies),
                                                 ("register_mask_spread",
                                                  args.register_mask_spread),
                                                 ("max_description_chars",
                                                  args.max_description_chars))
                               if v is not None}
        if args.register_mask is not None:
            unset_means_default["register_mask"] = (None if args.register_mask == "off"
                                                    else args.register_mask)
        options = BaselineOptions(C=args.C, n_features=2**args.hash_bits, seed=args.seed,
                                  max_per_class=args.max_per_class,
                                  **unset_means_default,
                                  calibration_folds=args.calibration_folds,
                                  block_precision=args.block_precision,
                                  review_recall=args.review_recall,
                                  supplements=supplements_from_args(args))
        path = train_baseline(dataset, args.models_dir, options,
                              extra=[Path(p) for p in args.extra_train], name=args.name,
                              make_default=args.make_default)
    else:
        path = _train_transformer_or_cascade(args, dataset)
        if path is None:
            return 0
    from model import Classifier

    metrics = Classifier.load(path).config.get("metrics", {})
    print(f"bundle saved to {path}")
    for split, m in metrics.items():
        print(f"  {split:13s} macro-F1 {m['macro_f1']:.4f}  accuracy {m['accuracy']:.4f}  "
              f"rows {m.get('rows', m.get('n'))}")
    return 0


def _train_transformer_or_cascade(
    args: argparse.Namespace, dataset: Path
) -> Path | None:
    """Fine-tune a transformer, or combine the newest baseline and transformer bundles.

    None when ``--fine-tune-only`` stopped before a bundle was made.
    """
    from model import registry
    from training.transformer import build_cascade, options_from_args, train_transformer

    root = registry.models_dir(args.models_dir)
    registry.require_new_name(args.name, root)
    if args.model == "transformer":
        options = options_from_args(args)
        path = train_transformer(dataset, root, options, name=args.name)
        if options.fine_tune_only:
            print(f"fine-tuned model in {path}; finish with the same options and --resume")
            return None
    else:
        baseline = registry.resolve(args.cascade_baseline, root)
        transformer = registry.resolve(args.cascade_transformer, root)
        path = build_cascade(baseline, transformer, dataset, root,
                             max_routed=args.cascade_max_routed, tolerance=args.cascade_tolerance,
                             name=args.name)
    print(registry.adopt_if_best(path, args.make_default, root))
    return path


def _evaluate(args: argparse.Namespace) -> int:
    if args.robustness_rows is not None and not (args.suite or args.compare):
        raise ValueError("--robustness-rows samples the suite's robustness section: give it "
                         "with --suite (or --compare)")
    if args.hard_negative_folds is not None and not (args.suite or args.compare):
        raise ValueError("--hard-negative-folds cross-fits the suite's hard_negatives "
                         "section: give it with --suite (or --compare)")
    if args.suite or args.compare:
        from training.suite.cli import run_from_args

        return run_from_args(args)
    from data.dataset import dataset_dir
    from training.evaluate import evaluate_bundle

    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    out, results = evaluate_bundle(args.bundle, dataset_dir(args.dataset),
                                   Path(args.output) if args.output else None, splits)
    for split, m in results.items():
        per_class = "  ".join(
            f"{n} {c['f1']:.3f}" for n, c in m["per_class"].items() if c["support"]
        )
        print(f"{split:13s} macro-F1 {m['macro_f1']:.4f}  ({per_class})")
    print(f"report written to {out}/report.md")
    return 0
