"""Knobs for fine-tuning the transformer, and the ``contraband train`` option group for them.

The defaults are sized to finish on 2 CPU cores in well under 45 minutes: at most
``cap_per_class`` training listings per illicit class and ``negative_cap`` benign ones
(sampled evenly across sources, so small hard-negative shops are kept whole), 64 tokens,
at most 2 epochs with early stopping on validation macro-F1. Raise the caps, epochs and
max length on a bigger machine; ``device=auto`` uses CUDA when there is one, and bf16
autocast where the GPU supports it.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from training.supplement_options import supplements_from_args

DEVICES = ("auto", "cpu", "cuda")
INPUTS = ("text", "title")


@dataclass
class TransformerOptions:
    base: str | None = None  # HF encoder folder; None = the bundled all-MiniLM-L6-v2
    layers: int | None = None  # keep the base's first N encoder layers; None = all of them
    input: str = "text"  # "text" (title | description prefix) or "title"
    description_dropout: float = 0.5  # share of training rows with a description shown without
    register: float = 0.5  # benign rows added again restyled (see training.register)
    augment: float = 0.0  # training rows added again obfuscated (see training.augment)
    # illicit rows added again without the words that name their class (training.cue_copies):
    # this many words per class (0 = none), each held at least this share by the class
    cue_words: int = 0
    cue_precision: float = 0.9
    cue_min_rows: int = 20  # ... and in at least this many of its titles
    # short copies of the train split's lawful look-alikes (training.lookalike_copies), each
    # this many times (0 = none)
    lookalike_copies: int = 0
    max_length: int = 64
    batch_size: int = 32
    eval_batch_size: int = 128
    epochs: float = 2.0
    max_steps: int | None = None  # stop after this many optimiser steps (overrides epochs)
    learning_rate: float = 8e-5
    # Feature-preserving fine-tuning (Kumar et al., ICLR 2022, "Fine-Tuning can Distort
    # Pretrained Features and Underperform Out-of-Distribution"): train the randomly
    # initialised head alone first (LP-FT), so its early, large gradients do not reshape the
    # encoder, and optionally keep the word embeddings as pretrained, so words the training
    # data never shows keep their place next to the words it does.
    linear_probe_steps: int = 0  # first N steps train the head (and pooler) alone
    linear_probe_lr: float = 2e-3  # the head's constant learning rate during those steps
    freeze_embeddings: bool = False  # never update the input (word) embeddings
    # Product of experts with a register-only bias model (training.transformer.register_bias):
    # the register features' log-odds threshold, as the baseline's --register-mask; None = off
    register_bias: float | None = None
    register_bias_spread: float = 0.5
    # Weight averaging (training.transformer.averaging): the run's model is the mean of the
    # weights after every step from this one on, not the best checkpoint; None = off
    average_from: int | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    cap_per_class: int = 3000  # illicit classes
    negative_cap: int = 6000  # the negative (benign) class: many distinct hard-negative shops
    class_weight_power: float = 0.5  # loss weight = (inverse class frequency) ** power
    eval_steps: int = 200
    eval_cap_per_class: int = 500  # validation rows per class used for early stopping
    patience: int = 3  # evaluations without a better macro-F1 before stopping
    checkpoint_steps: int = 100
    seed: int = 13
    device: str = "auto"
    bf16: bool = False
    threads: int | None = None  # torch intra-op threads; None = torch's default
    work_dir: str | None = None  # checkpoints; default <models dir>/../runs/transformer
    resume: bool = False
    max_minutes: float | None = None  # wall-clock budget for this session's fine-tuning
    fine_tune_only: bool = False  # stop once best/ is written (finish elsewhere with resume)
    min_agreement: float = 0.99  # int8 ONNX vs fp32 torch label agreement to accept
    agreement_max_rows: int = 5000  # validation rows used for the agreement check
    block_precision: float = 0.95
    review_recall: float = 0.95
    evaluate_splits: tuple[str, ...] = ("test", "oot", "cross_market")
    progress: bool = True
    # the dataset's training-only rows to add, by name; None: the policy's defaults
    supplements: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        from training.cue_copies import CueCopyOptions  # pandas: not at argument parsing
        from training.lookalike_copies import check_lookalike_copies

        CueCopyOptions.of(self)  # checks the cue-word settings
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {self.input!r}")
        positive = ("max_length", "batch_size", "eval_batch_size", "cap_per_class",
                    "negative_cap", "eval_steps", "eval_cap_per_class", "checkpoint_steps",
                    "agreement_max_rows")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        check_lookalike_copies(self.lookalike_copies)
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {self.max_length}")
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("epochs must be positive (or give max_steps)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be within (0, 1), got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be within [0, 1), got {self.warmup_ratio}")
        if not 0 <= self.description_dropout <= 1:
            raise ValueError(f"description_dropout must be within [0, 1], got "
                             f"{self.description_dropout}")
        if not 0 <= self.register <= 10:
            raise ValueError(f"register must be within [0, 10], got {self.register}")
        if not 0 <= self.augment <= 10:
            raise ValueError(f"augment must be within [0, 10], got {self.augment}")
        if not 0 <= self.min_agreement <= 1:
            raise ValueError(f"min_agreement must be within [0, 1], got {self.min_agreement}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"layers must be at least 1, got {self.layers}")
        if self.linear_probe_steps < 0:
            raise ValueError(f"linear_probe_steps must be 0 or more, got "
                             f"{self.linear_probe_steps}")
        if self.max_steps is not None and self.linear_probe_steps >= self.max_steps:
            raise ValueError(f"linear_probe_steps ({self.linear_probe_steps}) must be fewer "
                             f"than max_steps ({self.max_steps}): the encoder would never train")
        if not 0 < self.linear_probe_lr < 1:
            raise ValueError(f"linear_probe_lr must be within (0, 1), got "
                             f"{self.linear_probe_lr}")
        if self.average_from is not None and self.average_from < 1:
            raise ValueError(f"average_from must be a step (1 or more), got {self.average_from}")
        if (self.average_from is not None and self.max_steps is not None
                and self.average_from > self.max_steps):
            raise ValueError(f"average_from ({self.average_from}) is after the last step "
                             f"(max_steps {self.max_steps}): nothing would be averaged")
        if self.register_bias_spread <= 0:
            raise ValueError(f"register_bias_spread must be positive, got "
                             f"{self.register_bias_spread}")
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        self.evaluate_splits = tuple(self.evaluate_splits)
        if self.supplements is not None:
            self.supplements = tuple(self.supplements)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # Options that change what a resumed run would compute; others (progress, work_dir,
    # thresholds, evaluation) may differ between the killed run and its resumption.
    TRAINING_KEYS = (
        "base", "layers", "input", "description_dropout", "register", "augment", "cue_words",
        "cue_precision", "cue_min_rows", "lookalike_copies", "max_length",
        "batch_size", "epochs", "max_steps", "learning_rate", "linear_probe_steps",
        "linear_probe_lr", "freeze_embeddings", "register_bias", "register_bias_spread",
        "average_from", "weight_decay", "warmup_ratio",
        "cap_per_class", "negative_cap", "class_weight_power", "eval_steps",
        "eval_cap_per_class", "patience", "seed", "supplements",
    )

    def training_signature(self) -> dict[str, Any]:
        """The training options as JSON stores them (tuples as lists), to compare on resume."""
        return {k: list(v) if isinstance(v := getattr(self, k), tuple) else v
                for k in self.TRAINING_KEYS}


def add_transformer_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the ``--model transformer|cascade`` option group to a ``train`` parser."""
    d = TransformerOptions()
    g = parser.add_argument_group(
        "transformer", "fine-tuning the transformer (used with --model transformer)"
    )
    g.add_argument("--base", type=Path, default=None, metavar="PATH",
                   help="Hugging Face encoder folder to fine-tune (default: the bundled "
                        "all-MiniLM-L6-v2)")
    g.add_argument("--layers", type=int, default=None, metavar="N",
                   help="keep only the base's first N encoder layers: a shallower model "
                        "runs faster on a CPU (4 of MiniLM's 6: ~1.5x the titles/s); "
                        "default all. Starting from an already fine-tuned model keeps most "
                        "of its accuracy")
    g.add_argument("--input", choices=INPUTS, default=d.input,
                   help="model input: the prepared title | description text, or the title "
                        f"alone (default {d.input})")
    g.add_argument("--max-length", type=int, default=d.max_length,
                   help=f"tokens per listing, longer ones are truncated (default {d.max_length})")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"training batch size (default {d.batch_size})")
    g.add_argument("--epochs", type=float, default=d.epochs,
                   help=f"most epochs over the capped sample (default {d.epochs:g})")
    g.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many optimiser steps (overrides --epochs)")
    g.add_argument("--learning-rate", type=float, default=d.learning_rate,
                   help=f"peak AdamW learning rate (default {d.learning_rate:g})")
    g.add_argument("--linear-probe-steps", type=int, default=d.linear_probe_steps, metavar="N",
                   help="train the classification head alone for the first N steps, then "
                        "everything (LP-FT: the random head's first gradients then do not "
                        f"reshape the pretrained encoder; default {d.linear_probe_steps})")
    g.add_argument("--linear-probe-lr", type=float, default=d.linear_probe_lr, metavar="LR",
                   help="the head's learning rate during --linear-probe-steps "
                        f"(default {d.linear_probe_lr:g})")
    g.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the base's word embeddings as pretrained, so words the training "
                        "data never shows stay next to the words it does")
    g.add_argument("--register-bias", type=float, default=None, metavar="LOG_ODDS",
                   help="fine-tune as a product of experts with a model that sees only the "
                        "darknet-register n-grams (chosen as the baseline's --register-mask "
                        "LOG_ODDS chooses them), left out at prediction, so the way a market "
                        "writes is not learnt as evidence (default off)")
    g.add_argument("--register-bias-spread", type=float, default=d.register_bias_spread,
                   metavar="LOG_ODDS",
                   help="... and whose rates in lawful and illicit darknet listings differ by "
                        f"less than e**LOG_ODDS times (default {d.register_bias_spread:g})")
    g.add_argument("--average-from", type=int, default=None, metavar="STEP",
                   help="make the run's model the mean of the weights after every step from "
                        "STEP to the last (weight averaging, SWA/SWAD) instead of the best "
                        "checkpoint; early stopping still ends the run, so raise --patience "
                        "to average to --max-steps (default off)")
    g.add_argument("--cap-per-class", type=int, default=d.cap_per_class,
                   help="most training listings per illicit class, spread evenly over sources "
                        f"(default {d.cap_per_class})")
    g.add_argument("--negative-cap", type=int, default=d.negative_cap,
                   help="most benign training listings, spread evenly over the shops so small "
                        f"hard-negative sources are kept whole (default {d.negative_cap})")
    g.add_argument("--class-weight-power", type=float, default=d.class_weight_power,
                   help="loss weight per class = (inverse frequency in the sample) ** power; "
                        f"0 turns weighting off (default {d.class_weight_power:g})")
    g.add_argument("--eval-steps", type=int, default=d.eval_steps,
                   help=f"validate every N steps for early stopping (default {d.eval_steps})")
    g.add_argument("--patience", type=int, default=d.patience,
                   help="stop after N validations without a better macro-F1 "
                        f"(default {d.patience})")
    g.add_argument("--checkpoint-steps", type=int, default=d.checkpoint_steps,
                   help=f"write a resumable checkpoint every N steps (default "
                        f"{d.checkpoint_steps})")
    g.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    g.add_argument("--device", choices=DEVICES, default=d.device,
                   help="auto = cuda when available, else cpu")
    g.add_argument("--bf16", action="store_true",
                   help="bf16 autocast on a GPU that supports it (ignored on CPU)")
    g.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice)")
    g.add_argument("--work-dir", type=Path, default=None,
                   help="where checkpoints go (default: artifacts/runs/transformer)")
    g.add_argument("--resume", action="store_true",
                   help="continue a killed run from the newest checkpoint in --work-dir")
    g.add_argument("--max-minutes", type=float, default=None,
                   help="stop fine-tuning (validate, keep the best model, mark the run "
                        "finished) once this session has trained this long: for machines "
                        "lent for a fixed time")
    g.add_argument("--fine-tune-only", action="store_true",
                   help="stop after fine-tuning, leaving the run in --work-dir: fine-tune on "
                        "a GPU machine, copy the work folder (run.json, checkpoint.pt, best/) "
                        "to the serving machine and finish there with the same options plus "
                        "--resume (ONNX export, agreement check, thresholds, evaluation)")
    g.add_argument("--min-agreement", type=float, default=d.min_agreement,
                   help="refuse an int8 export agreeing with the fp32 model on fewer than this "
                        f"share of validation labels (default {d.min_agreement:g})")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    return g


def options_from_args(args: argparse.Namespace) -> TransformerOptions:
    """Build :class:`TransformerOptions` from parsed ``add_transformer_arguments`` options."""
    names = {f.name for f in fields(TransformerOptions)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    for key in ("base", "work_dir"):
        if key in values:
            values[key] = str(values[key])
    values["progress"] = not getattr(args, "no_progress", False)
    values["supplements"] = supplements_from_args(args)
    return TransformerOptions(**values)
