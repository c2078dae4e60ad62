"""The model card written into every bundle (README.md), from the bundle's own config."""

from __future__ import annotations

from typing import Any

from model.labels import LabelSet
from training.report import metrics_markdown


def source_prior_text(prior: dict[str, float], names: tuple[str, ...] | list[str]) -> str:
    """One sentence for a model card: the class mix the scores are calibrated to."""
    mix = ", ".join(f"{n} {prior[n]:.3f}" for n in names if n in prior)
    return (f"Scores are calibrated to this class mix (mean validation probabilities): {mix}. "
            "`contraband adapt` corrects a scan of one market to that market's own mix, "
            "estimated by BBSE from its predicted labels and the validation confusion matrix "
            "this bundle records; see the project README, Batch scanning.")


def _source_prior_section(config: dict[str, Any], labels: LabelSet) -> str:
    prior = config.get("source_prior")
    if not prior:
        return ""
    return ("## Class mix the scores are calibrated to\n\n"
            f"{source_prior_text(prior, labels.names)}\n\n")


def supplements_text(supplements: dict[str, Any]) -> str:
    """A sentence naming the training-only supplements a bundle was trained with, if any."""
    if not supplements:
        return ""
    named = ", ".join(f"`{name}` ({s['rows']} rows)" for name, s in supplements.items())
    return (f"Training also used the label policy's training-only supplements {named}: rows "
            "the rules exclude, added on purpose (see the dataset card).\n")


def render_model_card(config: dict[str, Any], labels: LabelSet, description: str) -> str:
    metrics = config.get("metrics", {})
    thresholds = config.get("thresholds", {})
    threshold_rows = "\n".join(
        f"| {name} | {t['block']:.4f} | {t['review']:.4f} |" for name, t in thresholds.items()
    )
    data = config.get("dataset", {})
    return f"""# contraband model card: {config['version']}

{description}

## Intended use

Triage of marketplace listings (title, optional description) into
{", ".join(f"`{n}`" for n in labels.names)}, for trust-and-safety moderation and research on
illicit online markets. Scores are calibrated probabilities; the decision (allow / review /
block) comes from per-class thresholds chosen on validation data. It is a triage aid: a
`block` should still be auditable by a person, and the model must not be used to make
decisions about people.

## Data

Dataset `{data.get('name', '?')}` (fingerprint `{str(data.get('fingerprint', '?'))[:16]}…`),
label policy `{config.get('policy', {}).get('name', '?')}` (sha256
`{str(config.get('policy', {}).get('sha256', '?'))[:16]}…`). Real listings from 2014–2020
darknet markets and from ordinary shops; splits grouped by vendor; the 2020 markets (`oot`)
and held-out shops (`cross_market`) never enter training. Training rows: {data.get('train_rows')}.
{supplements_text(data.get("supplements") or {})}
## Thresholds

Block at precision ≥ {config.get('threshold_targets', {}).get('block_precision')} on
validation; review at recall ≥ {config.get('threshold_targets', {}).get('review_recall')}.

| class | block | review |
|---|---|---|
{threshold_rows}

{_source_prior_section(config, labels)}## Metrics

{metrics_markdown(metrics, labels) if metrics else "(not evaluated)"}

## Limitations

- Illicit text comes from darknet markets of 2014–2020 and lawful text from shop catalogues:
  part of what any model learns is style. The `cross_market` figures are the honest ones.
- Weapons and stolen data are scarce in the training data (hundreds of listings); their
  figures have wide error bars, and no 2020 weapons listings exist to test on.
- Guides, services, malware and pirated software are outside the label policy: such listings
  get whichever class is closest.
- Titles in languages other than English are rare in the data.
"""
