"""The Markdown model card of a transformer or cascade bundle."""

from __future__ import annotations

from typing import Any

from model.labels import LabelSet

LIMITATIONS = """\
- Trained on 2014–2020 darknet market listings and on ordinary shop catalogues: the model
  can learn the style of a source (shop catalogue wording, description length) instead of
  what is sold. The `oot` and `cross_market` scores above are the honest ones; expect
  lower scores on markets unlike any in the training data.
- Lawful look-alikes (grass seed, herb grinders, toy guns, replica-free branded goods,
  supplements) are the commonest false positives; the thresholds trade them off against
  recall and were chosen on validation data only, never on the out-of-domain splits.
- Inputs longer than the token limit are truncated: only the title and the start of the
  description are read.
- English-centred vocabulary; other languages are scored, but poorly.
- The model scores listings for human review and bulk triage; it is not evidence of a
  crime and must not be used to act against a person without review.
"""


def _table(metrics: dict[str, Any], labels: LabelSet) -> list[str]:
    splits = [s for s in metrics if isinstance(metrics[s], dict) and "macro_f1" in metrics[s]]
    if not splits:
        return ["(no metrics recorded)"]
    head = "| split | n | macro-F1 | accuracy | " + " | ".join(labels.names) + " |"
    rule = "|" + "---|" * (4 + len(labels.names))
    rows = [head, rule]
    for split in splits:
        m = metrics[split]
        per_class = m.get("per_class", {})
        cells = [f"{per_class[n]['f1']:.3f}" if per_class.get(n, {}).get("support") else "–"
                 for n in labels.names]
        rows.append(f"| {split} | {m['rows']} | {m['macro_f1']:.3f} | {m['accuracy']:.3f} | "
                    + " | ".join(cells) + " |")
    return rows


def _markets(metrics: dict[str, Any]) -> list[str]:
    rows = ["| split | market | n | macro-F1 | accuracy |", "|---|---|---|---|---|"]
    for split, m in metrics.items():
        for market, mm in (m.get("per_market") or {}).items():
            rows.append(f"| {split} | {market} | {mm['rows']} | {mm['macro_f1']:.3f} | "
                        f"{mm['accuracy']:.3f} |")
    return rows if len(rows) > 2 else ["(no per-market figures)"]


def render_card(
    *,
    title: str,
    summary: str,
    labels: LabelSet,
    dataset: dict[str, Any],
    training: list[str],
    metrics: dict[str, Any],
    extra: list[str] = (),
) -> str:
    lines = [
        f"# {title}",
        "",
        summary,
        "",
        "## Intended use",
        "",
        "Triage of marketplace listings for moderators and researchers: each listing gets a "
        f"score for each of {', '.join(labels.names)} and an allow / review / block decision "
        "from per-class thresholds. Serving loads only ONNX Runtime and the `tokenizers` "
        "library (no torch).",
        "",
        "## Data",
        "",
        f"- dataset `{dataset.get('name', '?')}`, fingerprint `{dataset.get('fingerprint', '?')}`",
        f"- label policy `{dataset.get('policy', {}).get('name', '?')}`",
        "- splits are vendor-disjoint; `oot` holds 2020 markets never trained on and "
        "`cross_market` adds held-out shops: both are for evaluation only.",
        "",
        "## Training",
        "",
        *[f"- {line}" for line in training],
        "",
        "## Metrics per class",
        "",
        *_table(metrics, labels),
        "",
        "## Metrics per market",
        "",
        *_markets(metrics),
        "",
        *extra,
        "## Limitations",
        "",
        LIMITATIONS,
    ]
    return "\n".join(lines)
