"""The transformer model kind at serving time: a fine-tuned encoder as int8 ONNX.

Serving reads only the ``tokenizers`` fast-tokenizer file and the quantised ONNX graph with
ONNX Runtime, so loading and predicting never imports torch or transformers (training does;
see ``training/transformer``).

Inside a bundle the files live in the ``hf/`` sub-folder (the bundle's own ``config.json``
would otherwise clash with the Hugging Face one):

    hf/config.json            Hugging Face model config, with id2label
    hf/tokenizer.json         fast tokenizer (plus tokenizer_config.json, vocab.txt, ...)
    hf/model.int8.onnx        the dynamically quantised graph: input ids -> logits
    hf/runtime.json           max_length: how to feed the graph (one listing per run, so no
                              padding); and
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
from model.occlusion import LOG_ODDS, log_odds_contributions

SUBDIR = "hf"
ONNX_FILE = "model.int8.onnx"
RUNTIME_FILE = "runtime.json"
TOKENIZER_FILE = "tokenizer.json"
HF_CONFIG_FILE = "config.json"


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class OnnxTransformerModel:
    """Tokenise and run the int8 graph one listing at a time, on every core.

    One listing per graph run, never a padded batch: dynamic int8 quantisation scales each
    activation tensor by the range of the whole run, so in a batch a listing's scores would
    move with its batch-mates (on 2,000 validation listings, 6 labels differed between a
    batch of 64 and the listing alone, and one listing's logits by up to 1.7). A moderator
    re-scoring a listing must get the answer it got inside a request of 500. Alone, a row
    needs no padding, and on 2 cores it costs about a quarter of the batched speed
    (titles: ~2,200/s against ~3,000/s on this session's machine).

    ``threads`` is how many cores to use (default: ``$CONTRABAND_ORT_THREADS``, else one per
    core): each runs its share of the rows on one ONNX Runtime thread, which for a MiniLM
    run on one short title is faster than splitting the run across threads.
    """

    kind = "transformer"
    contribution_unit = LOG_ODDS

    def __init__(self, folder: str | os.PathLike, *, threads: int | None = None) -> None:
        folder = Path(folder)
        self.folder = folder
        runtime = read_json_object(folder / RUNTIME_FILE)
        try:
            self.max_length = int(runtime["max_length"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{folder / RUNTIME_FILE} lacks a valid {exc} setting") from exc
        if self.max_length < 2:
            raise BundleError(f"{folder / RUNTIME_FILE}: max_length must be at least 2")
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
    def _feeds(self, encoding: Any) -> dict[str, np.ndarray]:
        """One listing's graph inputs (a batch of one row, so no padding)."""
        feeds = {"input_ids": np.asarray([encoding.ids], dtype=np.int64),
                 "attention_mask": np.ones((1, len(encoding.ids)), dtype=np.int64)}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.asarray([encoding.type_ids], dtype=np.int64)
        return feeds

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw class logits for prepared texts, in the order given; a text's logits do not
        depend on the other texts of the call."""
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is a {type(text).__name__}, not a string")
        out = np.zeros((len(texts), self.n_classes), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        shares = [rows for rows in np.array_split(np.arange(len(texts)), self.threads)
                  if len(rows)]

        def run(rows: np.ndarray) -> None:
            for i in rows:
                result = self.session.run(["logits"], self._feeds(encodings[i]))[0]
                if result.shape != (1, self.n_classes):
                    raise BundleError(f"the ONNX graph returned shape {result.shape}, "
                                      f"expected (1, {self.n_classes})")
                out[i] = result[0]

        if len(shares) == 1:
            run(shares[0])
        else:  # ONNX Runtime releases the GIL while it runs
            list(self._executor().map(run, shares))
        return out

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx")
        return self._pool

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax probabilities of the logits plus the class bias, one column per class id."""
        return _softmax(self.logits(texts) + self.class_bias)

    def token_contributions(self, text: str, class_id: int) -> list[tuple[str, float]]:
        """Each word's effect on the class's log-odds: with it minus without it
        (``model.occlusion``). Words past ``max_length`` tokens are never read, so they are
        left out. One graph run per word the model reads."""
        return log_odds_contributions(text, self.predict_proba, class_id,
                                      readable_words=self.readable_words(text))

    def truncated(self, texts: Sequence[str]) -> np.ndarray:
        """True for each prepared text that runs past the ``max_length`` tokens the model
        reads (special tokens included), so its end is never seen."""
        return np.array([bool(e.overflowing) for e in self.tokenizer.encode_batch(list(texts))],
                        dtype=bool)

    def readable_words(self, text: str) -> int:
        """How many of ``text.split()``'s words the model reads, at least in part, before
        truncation at ``max_length`` tokens."""
        offsets = self.tokenizer.encode(text).offsets
        covered = max((end for _, end in offsets), default=0)  # special tokens are (0, 0)
        count, position = 0, 0
        for word in text.split():
            start = text.index(word, position)
            if start >= covered:
                break
            count, position = count + 1, start + len(word)
        return count

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
