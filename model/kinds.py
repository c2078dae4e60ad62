"""The model kinds a bundle can hold, each loaded lazily so serving a baseline never imports
torch or ONNX Runtime.

A kind is a class with ``kind`` (its name), ``predict_proba(texts) -> ndarray``,
``save(directory) -> list of file names`` and ``load(directory, config)``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np

# How many cores a transformer model uses (read by model.transformer); defined here so that
# code which only sets it, such as a scan worker, need not import ONNX Runtime.
THREADS_ENV = "CONTRABAND_ORT_THREADS"

_KINDS: dict[str, str] = {
    "baseline": "model.baseline:TfidfLinearModel",
    "transformer": "model.transformer:OnnxTransformerModel",
    "cascade": "model.cascade:CascadeModel",
}


class ModelKind(Protocol):
    kind: str

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    def save(self, directory: Any) -> list[str]: ...

    @classmethod
    def load(cls, directory: Any, config: dict[str, Any]) -> ModelKind: ...


def kind_class(kind: str) -> type:
    """The class that implements ``kind``; a clear error for an unknown kind."""
    try:
        target = _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {sorted(_KINDS)}") from None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def known_kinds() -> list[str]:
    return sorted(_KINDS)
