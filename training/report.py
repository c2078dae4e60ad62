"""Writing evaluation reports: Markdown, JSON, a confusion-matrix PNG and PR curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.bundle import write_json_atomic
from model.labels import LabelSet


def metrics_markdown(results: dict[str, dict[str, Any]], labels: LabelSet) -> str:
    """One summary table (macro-F1 per split) and one per-class table per split."""
    lines = ["| split | rows | accuracy | macro-F1 | 95% interval (vendor bootstrap) |",
             "|---|---|---|---|---|"]
    for split, m in results.items():
        ci = m.get("macro_f1_ci95")
        interval = f"{ci[0]:.4f} – {ci[1]:.4f}" if ci else "n/a"
        lines.append(f"| {split} | {m['rows']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} "
                     f"| {interval} |")
    for split, m in results.items():
        lines += ["", f"### {split}", "", "| class | precision | recall | F1 | support |",
                  "|---|---|---|---|---|"]
        for name in labels.names:
            c = m["per_class"][name]
            if c["support"] or c["precision"]:
                lines.append(f"| {name} | {c['precision']:.4f} | {c['recall']:.4f} | "
                             f"{c['f1']:.4f} | {c['support']} |")
        lines += ["", "Confusion matrix (rows = truth, columns = prediction):", "",
                  "| | " + " | ".join(labels.names) + " |", "|---" * (len(labels) + 1) + "|"]
        for name, row in zip(labels.names, m["confusion_matrix"], strict=True):
            lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def plot_confusion(matrix: list[list[int]], labels: LabelSet, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.asarray(matrix, dtype=float)
    normalised = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels.names, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels.names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(values[i, j])}", ha="center", va="center",
                    color="white" if normalised[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pr_curves(
    y_true: np.ndarray, proba: np.ndarray, labels: LabelSet, title: str, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(6, 5))
    for name in labels.illicit:
        column = labels.index(name)
        truth = y_true == column
        if truth.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(truth, proba[:, column])
        ap = average_precision_score(truth, proba[:, column])
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no illicit rows in this split", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out_dir: Path,
    results: dict[str, dict[str, Any]],
    predictions: dict[str, tuple[np.ndarray, np.ndarray]],
    labels: LabelSet,
    header: str,
) -> list[Path]:
    """Write report.md, metrics.json and per-split PNGs into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "metrics.json", out_dir / "report.md"]
    write_json_atomic(out_dir / "metrics.json", results)
    images = []
    for split, (y_true, proba) in predictions.items():
        cm_path = out_dir / f"confusion_{split}.png"
        pr_path = out_dir / f"pr_{split}.png"
        plot_confusion(results[split]["confusion_matrix"], labels, f"{split}: confusion", cm_path)
        plot_pr_curves(y_true, proba, labels, f"{split}: precision-recall", pr_path)
        images += [cm_path, pr_path]
    body = header + "\n\n" + metrics_markdown(results, labels) + "\n## Plots\n\n" + "\n".join(
        f"![{p.stem}]({p.name})" for p in images
    ) + "\n"
    (out_dir / "report.md").write_text(body, encoding="utf-8")
    return written + images
