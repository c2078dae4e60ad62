"""The fine-tuning loop: resumable, early-stopped on validation macro-F1, seeded.

A plain loop rather than ``transformers.Trainer`` (which needs ``accelerate``) so resuming
is exact: the data order of every epoch is a pure function of the seed and the epoch, and a
checkpoint holds the model, optimiser, schedule, RNG state and the position in the epoch,
so a killed run continues with the very batch it would have trained next.

Work folder layout:

    run.json          the options that decide what is computed (checked on --resume)
    checkpoint.pt     the newest resumable state (replaced atomically every N steps)
    best/             the best model so far on validation macro-F1 (save_pretrained); with
                      weight averaging, once the run is done, the averaged model instead
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.transformer.averaging import WeightAverage
from training.transformer.metrics import macro_f1
from training.transformer.options import TransformerOptions

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_DIR = "best"
MEGA_BATCH = 50  # batches whose rows are sorted by length together (less padding)


@dataclass
class Encoded:
    """Token ids (unpadded, already truncated) and class ids; for training rows, optionally
    a bias model's log-probabilities, added to the logits in the loss (product of experts,
    ``training.transformer.register_bias``)."""

    ids: list[list[int]]
    y: np.ndarray
    type_ids: list[list[int]] | None = None
    bias: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


def encode(tokenizer: Any, texts: Sequence[str], y: Sequence[int], max_length: int) -> Encoded:
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    return Encoded(list(enc["input_ids"]), np.asarray(y, dtype=np.int64),
                   list(enc["token_type_ids"]) if "token_type_ids" in enc else None)


def pad_token_id(tokenizer: Any) -> int:
    """What :func:`collate` pads with: the tokenizer's padding id, 0 where it names none."""
    return int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0


def collate(data: Encoded, rows: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad ``rows`` of ``data`` to the longest among them (dynamic padding)."""
    width = max(len(data.ids[i]) for i in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    types = torch.zeros((len(rows), width), dtype=torch.long)
    for r, i in enumerate(rows):
        n = len(data.ids[i])
        ids[r, :n] = torch.tensor(data.ids[i])
        mask[r, :n] = 1
        if data.type_ids is not None:
            types[r, :n] = torch.tensor(data.type_ids[i])
    batch = {"input_ids": ids, "attention_mask": mask}
    if data.type_ids is not None:
        batch["token_type_ids"] = types
    return batch


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """This epoch's batches: shuffled, then length-sorted within mega-batches, then shuffled.

    A pure function of (seed, epoch), which is what makes resuming mid-epoch exact.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * MEGA_BATCH
    for start in range(0, len(order), chunk):
        block = order[start:start + chunk]
        block = block[np.argsort(lengths[block], kind="stable")]
        batches += [block[i:i + batch_size] for i in range(0, len(block), batch_size)]
    rng.shuffle(batches)
    return batches


def resolve_device(option: str) -> torch.device:
    if option == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    if option == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(option)


@torch.no_grad()
def predict_logits(model: nn.Module, data: Encoded, batch_size: int, pad_id: int,
                   device: torch.device, autocast: bool = False) -> np.ndarray:
    """Logits for every row of ``data`` in order (length-sorted batches internally)."""
    model.eval()
    lengths = np.fromiter((len(x) for x in data.ids), dtype=np.int64, count=len(data))
    order = np.argsort(lengths, kind="stable")
    out = None
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate(data, rows, pad_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(**batch).logits.float().cpu().numpy()
        if out is None:
            out = np.zeros((len(data), logits.shape[1]), dtype=np.float32)
        out[rows] = logits
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


@dataclass
class FineTuneResult:
    best_dir: Path
    best_f1: float
    best_step: int
    steps: int
    stopped_early: bool
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    # with weight averaging: the steps averaged and the mean model's validation macro-F1
    averaged: dict[str, Any] | None = None


def _atomic_torch_save(payload: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _save_best(model: nn.Module, tokenizer: Any, work_dir: Path) -> None:
    tmp = work_dir / f".{BEST_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    old = work_dir / f".{BEST_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (work_dir / BEST_DIR).exists():
        os.replace(work_dir / BEST_DIR, old)
    os.replace(tmp, work_dir / BEST_DIR)
    shutil.rmtree(old, ignore_errors=True)


def prepare_work_dir(work_dir: Path, options: TransformerOptions,
                     dataset_fingerprint: str | None = None) -> dict[str, Any] | None:
    """Check the work folder against ``options`` and the dataset; the checkpoint to resume
    from, if any. A run resumed on another build of the data (a rebuild, another machine's
    build) would train on rows the killed run never saw, so that is refused too."""
    work_dir.mkdir(parents=True, exist_ok=True)
    signature = {**options.training_signature(), "dataset_fingerprint": dataset_fingerprint}
    run_file, ckpt = work_dir / RUN_FILE, work_dir / CHECKPOINT_FILE
    if ckpt.is_file() and not options.resume:
        raise FileExistsError(
            f"{work_dir} holds a checkpoint from an earlier run; pass --resume to continue it "
            "or choose another --work-dir (or delete that folder) to start afresh"
        )
    if options.resume and ckpt.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else {}
        changed = {k: (previous.get(k), v) for k, v in signature.items()
                   if k in previous and previous[k] != v}
        if changed:
            detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ValueError(f"--resume with different training options or data ({detail}); "
                             "use the options and dataset of the killed run or another "
                             "--work-dir")
        log.info("resuming from %s", ckpt)
        return torch.load(ckpt, map_location="cpu", weights_only=False)
    if options.resume:
        log.info("nothing to resume in %s; starting a new run", work_dir)
    run_file.write_text(json.dumps(signature, indent=2, default=str) + "\n", encoding="utf-8")
    return None


NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def head_parameter_names(model: nn.Module) -> set[str]:
    """The classification head's parameters: everything outside the base encoder, plus the
    base's pooler, which BERT's head reads (its pooled [CLS] vector)."""
    base = model.base_model
    encoder = {id(p) for p in base.parameters()}
    pooler = getattr(base, "pooler", None)
    pooled = {id(p) for p in pooler.parameters()} if pooler is not None else set()
    return {n for n, p in model.named_parameters() if id(p) not in encoder or id(p) in pooled}


def parameter_groups(model: nn.Module, options: TransformerOptions
                     ) -> tuple[list[dict[str, Any]], list[nn.Parameter]]:
    """AdamW groups (head or not, weight decay or not) and the encoder parameters that
    train; frozen word embeddings are in no group. Only a run with a linear-probe phase
    splits head from encoder, so runs without one keep the two groups their checkpoints
    were saved with."""
    frozen: set[int] = set()
    if options.freeze_embeddings:
        embeddings = model.get_input_embeddings()
        if embeddings is None:
            raise ValueError("--freeze-embeddings: the base model has no input embeddings")
        for p in embeddings.parameters():
            p.requires_grad_(False)
            frozen.add(id(p))
    head = head_parameter_names(model) if options.linear_probe_steps else set()
    named = [(n, p) for n, p in model.named_parameters() if id(p) not in frozen]
    groups = []
    for in_head in ((False, True) if head else (False,)):
        for decay in (True, False):
            params = [p for n, p in named if (n in head) == in_head
                      and (not n.endswith(NO_DECAY)) == decay]
            if params:
                groups.append({"params": params, "head": in_head,
                               "weight_decay": options.weight_decay if decay else 0.0})
    body = [p for n, p in named if n not in head] if head else []
    return groups, body


def learning_rate_schedule(total: int, options: TransformerOptions) -> Callable[[int], float]:
    """The encoder's learning-rate factor: nothing during the linear probe, then linear
    warm-up over ``warmup_ratio`` of the remaining steps and linear decay to zero."""
    probe = options.linear_probe_steps
    warmup = int(options.warmup_ratio * (total - probe))

    def schedule(step: int) -> float:
        since = step - probe
        if since < 0:
            return 0.0
        if since < warmup:
            return (since + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - probe - warmup))

    return schedule


def probe_head_schedule(schedule: Callable[[int], float], options: TransformerOptions
                        ) -> Callable[[int], float]:
    """The head's factor: ``linear_probe_lr`` during the probe, the encoder's after it."""
    probe, factor = options.linear_probe_steps, options.linear_probe_lr / options.learning_rate

    def head(step: int) -> float:
        return factor if step < probe else schedule(step)

    return head


def set_trainable(params: Sequence[nn.Parameter], trainable: bool) -> None:
    """Switch gradients on or off (AdamW skips a parameter without a gradient, so a frozen
    one keeps its weights and moments; no gradient is computed for it either)."""
    for p in params:
        if p.requires_grad != trainable:
            p.requires_grad_(trainable)


def fine_tune(
    model: nn.Module,
    tokenizer: Any,
    train: Encoded,
    validation: Encoded,
    class_weight: np.ndarray,
    options: TransformerOptions,
    work_dir: Path,
    dataset_fingerprint: str | None = None,
) -> FineTuneResult:
    """Train ``model`` in place; the best weights on validation end up in ``work_dir/best``."""
    started = time.monotonic()
    state = prepare_work_dir(work_dir, options, dataset_fingerprint)
    torch.manual_seed(options.seed)
    if options.threads:
        torch.set_num_threads(options.threads)
    device = resolve_device(options.device)
    autocast = bool(options.bf16 and device.type == "cuda" and torch.cuda.is_bf16_supported())
    model.to(device)
    pad_id = pad_token_id(tokenizer)

    steps_per_epoch = math.ceil(len(train) / options.batch_size)
    total = options.max_steps or max(1, math.ceil(options.epochs * steps_per_epoch))
    probe = options.linear_probe_steps
    if probe >= total:
        raise ValueError(f"linear_probe_steps ({probe}) must be fewer than the run's {total} "
                         "steps: the encoder would never train")
    if options.average_from is not None and options.average_from > total:
        raise ValueError(f"average_from ({options.average_from}) is after the run's last step "
                         f"({total}): nothing would be averaged")
    average = WeightAverage() if options.average_from is not None else None
    averaged: dict[str, Any] | None = None
    groups, body = parameter_groups(model, options)
    optimizer = torch.optim.AdamW(groups, lr=options.learning_rate)
    schedule = learning_rate_schedule(total, options)
    head_schedule = probe_head_schedule(schedule, options)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, [head_schedule if g["head"] else schedule for g in groups])
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(class_weight, dtype=torch.float32,
                                                      device=device))
    step, epoch, position = 0, 0, 0
    best_f1, best_step, bad, history, done, stopped_early = -1.0, 0, 0, [], False, False
    if state is not None:
        if not state["done"]:  # a finished run's checkpoint holds no weights: best/ does
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            if state.get("cuda_rng") is not None and device.type == "cuda":
                torch.cuda.set_rng_state_all(state["cuda_rng"])  # dropout draws on the GPU
            if average is not None and state.get("average") is not None:
                average.load_state_dict(state["average"])
        step, epoch, position = state["step"], state["epoch"], state["position"]
        best_f1, best_step, bad = state["best_f1"], state["best_step"], state["bad"]
        history, done = state["history"], state["done"]
        stopped_early = state.get("stopped_early", False)
        averaged = state.get("averaged")

    def checkpoint() -> None:
        """Save resumable state; once done, only the bookkeeping (the weights are in best/).

        A finished run's checkpoint is then a few kB instead of the model plus two Adam
        moments, which is what lets a run fine-tuned on one machine be copied to another
        and finished there with ``--resume`` (export, thresholds, evaluation).
        """
        payload = {
            "step": step, "epoch": epoch, "position": position, "best_f1": best_f1,
            "best_step": best_step, "bad": bad, "history": history, "done": done,
            "stopped_early": stopped_early, "averaged": averaged,
        }
        if not done:
            payload |= {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                        "cuda_rng": (torch.cuda.get_rng_state_all() if device.type == "cuda"
                                     else None),
                        "average": average.state_dict() if average is not None else None}
        _atomic_torch_save(payload, work_dir / CHECKPOINT_FILE)

    def evaluate() -> bool:
        """Validate; save the best model; True when patience has run out."""
        nonlocal best_f1, best_step, bad
        logits = predict_logits(model, validation, options.eval_batch_size, pad_id, device,
                                autocast)
        score = macro_f1(validation.y, logits.argmax(axis=1))
        history.append({"step": step, "epoch": round(step / steps_per_epoch, 3),
                        "val_macro_f1": round(score, 5), "loss": round(running, 5)})
        if score > best_f1 + 1e-4:
            best_f1, best_step, bad = score, step, 0
            _save_best(model, tokenizer, work_dir)
        else:
            bad += 1
        log.info("step %d: validation macro-F1 %.4f (best %.4f at step %d)", step, score,
                 best_f1, best_step)
        model.train()
        return bad >= options.patience

    def finish_average() -> dict[str, Any] | None:
        """Make the averaged weights the run's model (``best/``); what was averaged."""
        if average.count == 0:
            log.warning("the run ended at step %d, before --average-from %d: nothing was "
                        "averaged, so its model is the best checkpoint", step,
                        options.average_from)
            return None
        average.apply_to(model)
        logits = predict_logits(model, validation, options.eval_batch_size, pad_id, device,
                                autocast)
        score = macro_f1(validation.y, logits.argmax(axis=1))
        _save_best(model, tokenizer, work_dir)
        log.info("weights averaged over steps %d-%d: validation macro-F1 %.4f (best single "
                 "checkpoint %.4f at step %d)", options.average_from, step, score, best_f1,
                 best_step)
        return {"from_step": options.average_from, "to_step": step, "steps": average.count,
                "val_macro_f1": round(score, 5)}

    def out_of_time() -> bool:
        return bool(options.max_minutes) and time.monotonic() - started > 60 * options.max_minutes

    finished_before = done  # a finished run resumed to export: its model is in best/
    lengths = np.fromiter((len(x) for x in train.ids), dtype=np.int64, count=len(train))
    progress = _progress(total, step, options.progress)
    running = float("nan")
    model.train()
    set_trainable(body, step >= probe)  # a resumed run may start inside the probe or after
    try:
        timed_out = False
        while not done and not timed_out and step < total:
            batches = epoch_batches(lengths, options.batch_size, options.seed, epoch)
            while position < len(batches) and step < total:
                rows = batches[position]
                batch = {k: v.to(device) for k, v in collate(train, rows, pad_id).items()}
                labels = torch.from_numpy(train.y[rows]).to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    logits = model(**batch).logits
                logits = logits.float()
                if train.bias is not None:
                    logits = logits + torch.from_numpy(train.bias[rows]).to(device)
                loss = loss_fn(logits, labels)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step, position = step + 1, position + 1
                if average is not None and step >= options.average_from:
                    average.update(model)
                if step == probe:  # the linear probe is over: the encoder trains from now
                    set_trainable(body, True)
                value = float(loss.detach())
                running = value if math.isnan(running) else 0.98 * running + 0.02 * value
                progress.update(1)
                progress.set_postfix(loss=f"{running:.3f}", best_f1=f"{max(best_f1, 0):.3f}",
                                     refresh=False)
                if step % options.eval_steps == 0 and evaluate():
                    stopped_early = True
                    done = True
                    break
                if out_of_time():  # finished like a run that reached its last step
                    log.info("stopping at step %d: --max-minutes %g reached", step,
                             options.max_minutes)
                    timed_out = True
                    break
                if step % options.checkpoint_steps == 0:
                    checkpoint()
            if position >= len(batches):
                epoch, position = epoch + 1, 0
        if not done:
            if not history or history[-1]["step"] != step:
                evaluate()
            done = True
        if average is not None and not finished_before:
            averaged = finish_average()
        checkpoint()
    finally:
        progress.close()
    if not (work_dir / BEST_DIR).is_dir():
        raise RuntimeError(f"training ended without a best model in {work_dir / BEST_DIR}")
    return FineTuneResult(work_dir / BEST_DIR, best_f1, best_step, step, stopped_early,
                          time.monotonic() - started, history, averaged)


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="fine-tuning", unit="step",
                disable=not enabled, dynamic_ncols=True, file=sys.stderr,
                mininterval=1.0 if sys.stderr.isatty() else 30.0)
