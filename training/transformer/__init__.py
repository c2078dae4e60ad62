"""Fine-tuning the transformer model kind, exporting it to int8 ONNX, and the cascade.

    from training.transformer import TransformerOptions, build_cascade, train_transformer
    bundle = train_transformer("artifacts/data/default", "artifacts/models", TransformerOptions())
    cascade = build_cascade(baseline_bundle, bundle, "artifacts/data/default", "artifacts/models")

Importing this package is cheap; torch and transformers are imported when training starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from training.transformer.options import (
    TransformerOptions,
    add_transformer_arguments,
    options_from_args,
)

__all__ = [
    "TransformerOptions",
    "add_transformer_arguments",
    "build_cascade",
    "options_from_args",
    "train_transformer",
]


def train_transformer(
    dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
    options: TransformerOptions | None = None, *, name: str | None = None,
) -> Path:
    """Fine-tune, export to int8 ONNX, check and save a transformer bundle; its path.
    ``name`` is the bundle's name (default ``transformer-YYYYmmdd-HHMMSS``)."""
    from training.transformer.pipeline import train_transformer as run

    return run(dataset_dir, out_dir, options or TransformerOptions(), name=name)


def build_cascade(
    baseline_bundle: str | os.PathLike, transformer_bundle: str | os.PathLike,
    dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, *, max_routed: float = 0.3,
    tolerance: float = 0.002, name: str | None = None,
) -> Path:
    """Save a baseline→transformer cascade bundle, its cut chosen on validation; its path.
    ``name`` is the bundle's name (default ``cascade-YYYYmmdd-HHMMSS``)."""
    from training.transformer.cascade import build_cascade as run

    return run(baseline_bundle, transformer_bundle, dataset_dir, out_dir, max_routed=max_routed,
               tolerance=tolerance, name=name)
