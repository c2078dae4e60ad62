"""The generated data card: what is in each split and what was dropped, and why."""

from __future__ import annotations

from typing import Any

import pandas as pd


def _table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in [frame.index.name or "", *frame.columns]) + " |"
    rule = "|" + "---|" * (len(frame.columns) + 1)
    rows = [
        "| " + " | ".join([str(i), *(str(v) for v in row)]) + " |"
        for i, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    return "\n".join([header, rule, *rows])


def counts_table(
    splits: dict[str, pd.DataFrame], by: str, labels: list[str] | None
) -> pd.DataFrame:
    table = pd.DataFrame(
        {name: frame[by].value_counts() for name, frame in splits.items()}
    ).fillna(0).astype(int)
    if labels:
        table = table.reindex([label for label in labels if label in table.index])
    table.index.name = by
    table.loc["total"] = table.sum()
    return table


def render_card(info: dict[str, Any], splits: dict[str, pd.DataFrame]) -> str:
    labels = info["labels"]
    dropped = "\n".join(
        f"| {step} | {reason} | {n} |"
        for step, reasons in info["dropped"].items()
        for reason, n in reasons.items()
        if n
    )
    return f"""# Dataset card: {info['name']}

Built by `contraband data build` from `{info['data_dir']}` with label policy
`{info['policy']['name']}` (sha256 `{info['policy']['sha256'][:16]}…`).
Fingerprint `{info['fingerprint'][:16]}…`. Rows are real marketplace listings: research
material, not for redistribution.

## Splits

- `train`, `validation`, `test`: grouped by vendor (rows without a vendor by near-duplicate
  cluster), stratified by class; no group appears in two of them
  (groups shared: {info['shared_groups']}).
- `oot`: the out-of-time markets {', '.join(info['splits_settings']['out_of_time_markets'])};
  never used for training or model choice.
- `cross_market`: `oot` plus the held-out shops
  {', '.join(info['splits_settings']['held_out_sources'])}: unseen markets and shops.

## Rows per class and split

{_table(counts_table(splits, "label", labels))}

## Rows per source and split

{_table(counts_table(splits, "source", None))}

## What was dropped, and why

Rows read: {info['rows_read']}. Rows kept: {info['rows_kept']}.

| step | reason | rows |
|---|---|---|
{dropped}

Vendors recovered by joining titles within a market: {info['vendors_recovered']}.
Titles whose re-post marker ("(Clone)", "(duplicate)") was removed before de-duplication:
{info.get('repost_markers_removed', 0)}.
{_supplements_section(info.get("supplements", {}))}"""


def _supplements_section(supplements: dict[str, Any]) -> str:
    """Training-only rows the policy declares: what each holds and what its cleaning left out."""
    if not supplements:
        return ""
    lines = ["", "## Training-only supplements", "",
             "Rows the label rules exclude that training adds: those the policy marks "
             "`by_default` whenever `contraband train` is not told otherwise, the others with "
             "`--supplement NAME`. They are in no split above, and no vendor or near-duplicate "
             "cluster of theirs is in validation, test or `cross_market`.", "",
             "| supplement | label | rows | by default | left out: reason (rows) |",
             "|---|---|---|---|---|"]
    for name, supplement in supplements.items():
        reasons = "; ".join(f"{reason} ({n})" for reason, n in supplement["dropped"].items() if n)
        by_default = "yes" if supplement.get("by_default") else "no"
        lines.append(f"| `{name}` | {supplement['label']} | {supplement['rows']} | "
                     f"{by_default} | {reasons or 'none'} |")
    return "\n".join(lines) + "\n"
