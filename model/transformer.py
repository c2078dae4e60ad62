"""The transformer model kind at serving time: a fine-tuned encoder as int8 ONNX.

Serving reads only the ``tokenizers`` fast-tokenizer file and the quantised ONNX graph with
ONNX Runtime, so loading and predicting never imports torch or transformers (training does;
see ``training/transformer``).

Inside a bundle the files live in the ``hf/`` sub-folder (the bundle's own ``config.json``
would otherwise clash with the Hugging Face one):

    hf/config.json            Hugging Face model config, with id2label
    hf/tokenizer.json         fast tokenizer (plus tokenizer_config.json, vocab.txt, ...)
    hf/model.int8.onnx        the dynamically quantised graph: input ids -> logits
    hf/runtime.json           max_length, batch_size, pad_id: how to feed the graph; and
                              class_bias: offsets added to the logits (prior correction)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from model.bundle import BundleError, read_json_object
from model.kinds import THREADS_ENV

SUBDIR = "hf"
ONNX_FILE = "model.int8.onnx"
RUNTIME_FILE = "runtime.json"
TOKENIZER_FILE = "tokenizer.json"
HF_CONFIG_FILE = "config.json"


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# Tokens (rows × padded length) per graph run. Long texts run in smaller batches than short
# titles: a batch's activations grow with its tokens, and on a CPU the speed does not (one
# batch of 64 rows of 64 tokens held ~100 MB more than 16 such rows, at the same rate).
TOKENS_PER_BATCH = 1024


def _token_budget_batches(sorted_lengths: np.ndarray, order: np.ndarray, max_rows: int,
                          budget: int) -> list[np.ndarray]:
    """Cut ``order`` (rows sorted by ascending token length) into consecutive batches of at
    most ``max_rows`` rows whose padded size (rows × longest length) stays within
    ``budget``; a row longer than the budget runs alone."""
    batches = []
    start, n = 0, len(order)
    while start < n:
        end = start + 1
        while end < n and end - start < max_rows and (end + 1 - start) * sorted_lengths[
                end] <= budget:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


class OnnxTransformerModel:
    """Tokenise, sort by length, pad each batch to its own longest row, run the int8 graph.

    Sorting by length before batching means short titles are not padded to the length of a
    long description in the same batch, which is most of the speed on real traffic. Batches
    hold at most ``batch_size`` rows and ``TOKENS_PER_BATCH`` padded tokens.

    Dynamic int8 quantisation scales each activation tensor by its batch's range, so a
    listing's scores move slightly with its batch-mates (changing the batching from 64 rows
    to the token budget moved no test, 2020-market or unseen-market macro-F1 by more than
    0.002 and kept 99.9% of labels on a 3,000-listing mix).

    ``threads`` is how many cores to use (default: ``$CONTRABAND_ORT_THREADS``, else one per
    core). They run that many batches at once, each on one ONNX Runtime thread, rather than
    one batch at a time split across threads: a MiniLM batch of short titles is too small
    for intra-op parallelism to pay for its synchronisation (measured on 2 cores, titles:
    ~450/s with one session run on 2 threads, ~520/s with two runs of 1 thread each).
    """

    kind = "transformer"

    def __init__(self, folder: str | os.PathLike, *, threads: int | None = None) -> None:
        folder = Path(folder)
        self.folder = folder
        runtime = read_json_object(folder / RUNTIME_FILE)
        try:
            self.max_length = int(runtime["max_length"])
            self.batch_size = int(runtime["batch_size"])
            self.pad_id = int(runtime["pad_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{folder / RUNTIME_FILE} lacks a valid {exc} setting") from exc
        if self.max_length < 2 or self.batch_size < 1:
            raise BundleError(f"{folder / RUNTIME_FILE}: max_length and batch_size out of range")
        hf_config = read_json_object(folder / HF_CONFIG_FILE)
        id2label = hf_config.get("id2label") or {}
        self.id2label = {int(k): str(v) for k, v in id2label.items()}
        self.n_classes = len(self.id2label)
        bias = runtime.get("class_bias", [0.0] * self.n_classes)
        try:
            self.class_bias = np.asarray(bias, dtype=np.float64).reshape(self.n_classes)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{folder / RUNTIME_FILE}: class_bias must be "
                              f"{self.n_classes} numbers") from exc

        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)

        if threads is None:
            env = os.environ.get(THREADS_ENV, "").strip()
            threads = int(env) if env else 0
        self.threads = int(threads) if int(threads) > 0 else (os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        missing = {"input_ids", "attention_mask"} - set(self.input_names)
        if missing:
            raise BundleError(f"{folder / ONNX_FILE} lacks the inputs {sorted(missing)}")

    # -- prediction --------------------------------------------------------------------
    def _feeds(self, encodings: list, rows: np.ndarray) -> dict[str, np.ndarray]:
        width = max(len(encodings[i].ids) for i in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            enc = encodings[i]
            n = len(enc.ids)
            ids[r, :n] = enc.ids
            mask[r, :n] = 1
            types[r, :n] = enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = types
        return feeds

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw class logits for prepared texts, in the order given."""
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is a {type(text).__name__}, not a string")
        out = np.zeros((len(texts), self.n_classes), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        # a request smaller than threads × batch_size is split evenly, so it still uses
        # every core (an API micro-batch of 32 listings would otherwise run on one)
        size = max(1, min(self.batch_size, -(-len(order) // self.threads)))
        batches = _token_budget_batches(lengths[order], order, size, TOKENS_PER_BATCH)

        def run(rows: np.ndarray) -> None:
            result = self.session.run(["logits"], self._feeds(encodings, rows))[0]
            if result.shape != (len(rows), self.n_classes):
                raise BundleError(
                    f"the ONNX graph returned shape {result.shape}, expected "
                    f"({len(rows)}, {self.n_classes})"
                )
            out[rows] = result

        if len(batches) == 1 or self.threads == 1:
            for rows in batches:
                run(rows)
        else:  # ONNX Runtime releases the GIL while it runs
            list(self._executor().map(run, batches))
        return out

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx")
        return self._pool

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax probabilities of the logits plus the class bias, one column per class id."""
        return _softmax(self.logits(texts) + self.class_bias)

    def set_class_bias(self, bias: Sequence[float]) -> None:
        """Use ``bias`` from now on, and record it in this folder's runtime.json (so a bundle
        saved from this model carries it)."""
        bias = np.asarray(bias, dtype=np.float64).reshape(self.n_classes)
        path = self.folder / RUNTIME_FILE
        runtime = read_json_object(path)
        runtime["class_bias"] = [round(float(b), 6) for b in bias]
        path.write_text(json.dumps(runtime, indent=2) + "\n", encoding="utf-8")
        self.class_bias = bias

    # -- persistence -------------------------------------------------------------------
    def files(self) -> list[Path]:
        return sorted(
            p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")
        )

    def save(self, directory: str | os.PathLike) -> list[str]:
        target = Path(directory) / SUBDIR
        target.mkdir(parents=True, exist_ok=False)
        written = []
        for path in self.files():
            shutil.copy2(path, target / path.name)
            written.append(f"{SUBDIR}/{path.name}")
        return written

    @classmethod
    def load(cls, directory: str | os.PathLike, config: dict[str, Any]) -> OnnxTransformerModel:
        folder = Path(directory) / SUBDIR
        if not (folder / ONNX_FILE).is_file():
            raise BundleError(f"{directory} has no {SUBDIR}/{ONNX_FILE}")
        model = cls(folder)
        expected = config.get("id2label")
        if expected is not None:
            wanted = {int(k): str(v) for k, v in expected.items()}
            if wanted != model.id2label:
                raise BundleError(
                    f"{folder / HF_CONFIG_FILE} labels {model.id2label} differ from the "
                    f"bundle's {wanted}"
                )
        return model
