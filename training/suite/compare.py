"""``contraband evaluate --compare A B``: two suite runs side by side.

``A`` and ``B`` are suite output folders (or their ``suite.json``); anything else is taken as
a bundle name or path and its suite is run first. Where both bundles can still be loaded,
the comparison also scores them on the same rows of each split and gives B − A with a
paired vendor-bootstrap interval (:mod:`training.suite.paired`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from model.bundle import write_json_atomic
from training.suite.html_report import page, table


def suite_file(target: str) -> Path | None:
    """The ``suite.json`` that ``target`` names (a suite folder or the file), else None."""
    path = Path(target)
    file = path / "suite.json" if path.is_dir() else path
    return file if file.is_file() and file.suffix == ".json" else None


def load_or_run(target: str, run: Any) -> dict[str, Any]:
    """A finished suite's document, or ``run(target)``'s for a bundle."""
    import json

    file = suite_file(target)
    if file is not None:
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


def bundle_behind(target: str, document: dict[str, Any],
                  loaded: Any = None) -> tuple[Any, str | None]:
    """The loaded bundle a compared run measured, or None and why it cannot be had.

    ``loaded`` is the bundle when the caller already holds it. Otherwise a bundle name or
    path is loaded as given, and a finished run by the path it recorded, which must still
    hold the same version (bundles are never overwritten, so a moved or deleted one is the
    only way it can differ).
    """
    from model import Classifier
    from model.bundle import BundleError

    if loaded is not None:
        return loaded, None
    source = document.get("bundle_path") if suite_file(target) else target
    if not source:
        return None, f"{target} does not record its bundle's path"
    try:
        classifier = Classifier.load(source)
    except (BundleError, OSError) as exc:
        return None, f"the bundle of {target} cannot be loaded: {exc}"
    if classifier.version != document.get("bundle"):
        return None, (f"{source} now holds {classifier.version}, not the "
                      f"{document.get('bundle')} that {target} measured")
    return classifier, None


def write_comparison(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "compare.json", result)
    body = table(["figure", f"A: {result['a']}", f"B: {result['b']}", "B − A"],
                 [[r["figure"], r["a"], r["b"], r["b_minus_a"]] for r in result["rows"]])
    sections = [("Headline figures", body)] if result["rows"] else []
    if result.get("paired"):
        if any("cut_free" in entry for entry in result["paired"].values()):
            sections.insert(0, ("Out of domain: where each cuts, or how each ranks",
                                cut_free_table(result["paired"])))
        sections.insert(0, ("Paired differences: both bundles on the same rows",
                            paired_table(result["paired"])))
    elif result.get("paired_skipped"):
        sections.insert(0, ("No paired differences",
                            f"<p>{html.escape(result['paired_skipped'])}</p>"))
    if result.get("not_comparable"):
        warning = "".join(f"<li>{html.escape(d)}</li>" for d in result["not_comparable"])
        sections.insert(0, ("Not comparable: the runs differ in", f"<ul>{warning}</ul>"))
    (out_dir / "compare.html").write_text(
        page(f"{result['a']} vs {result['b']}", sections,
             "Lower is better for drops, ECE and false-positive rates; higher for F1 and "
             "precision."), encoding="utf-8")
    return out_dir / "compare.html"


def paired_table(paired: dict[str, Any]) -> str:
    """The paired section of ``compare.html``: one row per split, and per market of the
    out-of-domain splits."""
    def interval(entry: dict[str, Any]) -> str:
        ci = entry["b_minus_a_ci95"]
        return "–" if ci is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"

    def flagged(entry: dict[str, Any], side: str) -> str:
        share = entry.get(f"lawful_flagged_{side}")
        return "–" if share is None else f"{100 * share:.2f}%"

    def row(name: str, e: dict[str, Any]) -> list[Any]:
        return [name, e["rows"], e["macro_f1_a"], e["macro_f1_b"], f"{e['b_minus_a']:+.4f}",
                interval(e), e["b_ahead_share"], e["only_a_right"], e["only_b_right"],
                flagged(e, "a"), flagged(e, "b"),
                ", ".join(f"{k} {v:+.3f}" for k, v in e["per_class_f1_b_minus_a"].items())]

    rows = []
    for split, entry in paired.items():
        rows.append(row(split, entry))
        rows += [row(f"{split}: {market}", e)
                 for market, e in entry.get("per_market", {}).items()]
    note = ("<p>Each bootstrap draw resamples whole vendors (rows where a split has none) and "
            "scores both bundles on the same draw, so the interval is that of the difference "
            "itself; 'B ahead' is the share of draws in which B's macro-F1 is higher; "
            "'lawful flagged' is the share of lawful rows given an illicit label.</p>")
    return note + table(["split", "rows", "macro-F1 A", "macro-F1 B", "B − A",
                         "95% interval of B − A", "B ahead", "only A right", "only B right",
                         "lawful flagged A", "lawful flagged B", "per-class F1, B − A"], rows)


def cut_free_table(paired: dict[str, Any]) -> str:
    """The offset ceilings and average precisions of both bundles on the out-of-domain
    splits (:mod:`training.suite.ceiling`)."""
    from training.suite.ceiling import compared_figures

    rows = [[split, key, a, b, "–" if a is None or b is None else f"{b - a:+.4f}"]
            for split, entry in paired.items() if entry.get("cut_free")
            for key, a, b in compared_figures(entry["cut_free"]["a"], entry["cut_free"]["b"])]
    note = ("<p>The ceilings use class offsets fitted on the split's own labels (pooled, and "
            "per market): no cut chosen without those labels does better. A bundle behind "
            "as served but not at its ceiling cuts in the wrong place; one behind at its "
            "ceiling and in average precision ranks the listings worse.</p>")
    return note + table(["split", "figure", "A", "B", "B − A"], rows)


def summary_lines(result: dict[str, Any]) -> list[str]:
    def fmt(v: float | None) -> str:
        return "     –" if v is None else f"{v:8.4f}"

    lines = []
    if result["rows"]:  # none when no suite section ran (--suite none)
        lines = [f"{'figure':60s} {'A':>8s} {'B':>8s} {'B-A':>8s}", *(
            f"{r['figure']:60s} {fmt(r['a'])} {fmt(r['b'])} {fmt(r['b_minus_a'])}"
            for r in result["rows"]), ""]
    if result.get("paired"):
        from training.suite.paired import summary_lines as paired_lines

        lines += paired_lines(result["paired"])
    elif result.get("paired_skipped"):
        lines.append(f"no paired differences: {result['paired_skipped']}")
    return lines
