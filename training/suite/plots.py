"""The suite's figures as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    _pyplot().close(fig)
    return buffer.getvalue()


def heatmap(matrix: list[list[float | None]], rows: list[str], columns: list[str],
            title: str) -> bytes:
    plt = _pyplot()
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    fig, ax = plt.subplots(figsize=(1.4 * len(columns) + 2, 0.8 * len(rows) + 1.8))
    ax.imshow(values, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("test market")
    ax.set_ylabel("train market")
    for i in range(len(rows)):
        for j in range(len(columns)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center",
                        color="white" if values[i, j] < 0.6 else "black", fontsize=9)
    ax.set_title(title)
    return _png(fig)


def reliability_diagrams(reliability: dict[str, dict[str, list[dict[str, Any]]]],
                         ece: dict[str, dict[str, float]]) -> bytes:
    """One panel per class; one line per score variant (uncalibrated, shipped, ...)."""
    plt = _pyplot()
    variants = list(reliability)
    classes = list(next(iter(reliability.values())))
    fig, axes = plt.subplots(1, len(classes), figsize=(3.2 * len(classes), 3.4), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), classes, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        for variant in variants:
            bins = reliability[variant][name]
            ax.plot([b["mean_score"] for b in bins], [b["share_true"] for b in bins],
                    marker="o", markersize=3,
                    label=f"{variant} (ECE {ece[variant][name]:.3f})")
        ax.set_title(name)
        ax.set_xlabel("mean score in bin")
        ax.legend(fontsize=7, loc="upper left")
    np.atleast_1d(axes)[0].set_ylabel("share of rows truly in class")
    return _png(fig)


def bars(values: dict[str, float], title: str, ylabel: str,
         line: float | None = None) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(values) + 2), 3.4))
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    if line is not None:
        ax.axhline(line, color="#c44e52", linestyle="--", linewidth=1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _png(fig)
