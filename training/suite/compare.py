"""``contraband evaluate --compare A B``: two suite runs side by side.

``A`` and ``B`` are suite output folders (or their ``suite.json``); anything else is taken as
a bundle name or path and its suite is run first.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from model.bundle import write_json_atomic
from training.suite.html_report import page, table


def load_or_run(target: str, run: Any) -> dict[str, Any]:
    """A finished suite's document, or ``run(target)``'s for a bundle."""
    import json

    path = Path(target)
    file = path / "suite.json" if path.is_dir() else path
    if file.is_file() and file.suffix == ".json":
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file} is not valid JSON: {exc}") from exc
        if "headline" not in document:
            raise ValueError(f"{file} is not a suite result (no 'headline')")
        return document
    return run(target)


# what must match for B − A to measure the bundles and not the protocol
COMPARED_SETTINGS = (("dataset", "the dataset"), ("config", "the suite settings"),
                     ("robustness_rows", "the robustness sample (--robustness-rows)"))


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The settings in which two suite runs differ, in words (empty when comparable).

    Runs saved before a setting was recorded lack it; a missing value is not a difference.
    """
    found = []
    for key, words in COMPARED_SETTINGS:
        if key in a and key in b and a[key] != b[key]:
            found.append(f"{words}: {a[key]!r} against {b[key]!r}")
    return found


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Every headline figure of either run: A, B and B − A, and what makes them not
    comparable (other data, settings or samples), which the outputs print first."""
    keys = list(dict.fromkeys([*a["headline"], *b["headline"]]))
    rows = []
    for key in keys:
        va, vb = a["headline"].get(key), b["headline"].get(key)
        delta = None if va is None or vb is None else round(vb - va, 4)
        rows.append({"figure": key, "a": va, "b": vb, "b_minus_a": delta})
    return {"a": a["bundle"], "b": b["bundle"], "not_comparable": differences(a, b),
            "rows": rows}


def write_comparison(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "compare.json", result)
    body = table(["figure", f"A: {result['a']}", f"B: {result['b']}", "B − A"],
                 [[r["figure"], r["a"], r["b"], r["b_minus_a"]] for r in result["rows"]])
    sections = [("Headline figures", body)]
    if result.get("not_comparable"):
        warning = "".join(f"<li>{html.escape(d)}</li>" for d in result["not_comparable"])
        sections.insert(0, ("Not comparable: the runs differ in", f"<ul>{warning}</ul>"))
    (out_dir / "compare.html").write_text(
        page(f"{result['a']} vs {result['b']}", sections,
             "Lower is better for drops, ECE and false-positive rates; higher for F1 and "
             "precision."), encoding="utf-8")
    return out_dir / "compare.html"


def summary_lines(result: dict[str, Any]) -> list[str]:
    def fmt(v: float | None) -> str:
        return "     –" if v is None else f"{v:8.4f}"

    lines = [f"{'figure':60s} {'A':>8s} {'B':>8s} {'B-A':>8s}"]
    lines += [f"{r['figure']:60s} {fmt(r['a'])} {fmt(r['b'])} {fmt(r['b_minus_a'])}"
              for r in result["rows"]]
    return lines
