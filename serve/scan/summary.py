"""The end-of-scan summary: counts from the manifest (all runs) plus this run's speed."""

from __future__ import annotations

from typing import Any

from serve.scan.manifest import Manifest


def build_summary(manifest: Manifest, *, elapsed_s: float, rows_this_run: int,
                  engine: str, workers: int, output: str, problems: list[str]) -> dict[str, Any]:
    data = manifest.data
    totals = data["totals"]
    failed = [{"path": data["inputs"][int(i)]["path"], "error": state["error"]}
              for i, state in data["files"].items() if state.get("error")]
    groups = {
        column: {
            value: {
                "rows": counts.get("rows", 0),
                "labels": {k.split(":", 1)[1]: v for k, v in counts.items()
                           if k.startswith("label:")},
                "decisions": {k.split(":", 1)[1]: v for k, v in counts.items()
                              if k.startswith("decision:")},
            }
            for value, counts in sorted(values.items(), key=lambda kv: -kv[1].get("rows", 0))
        }
        for column, values in totals["groups"].items()
    }
    return {
        "output": output,
        "complete": bool(data.get("complete")),
        "model_version": data["model_version"],
        "engine": engine,
        "workers": workers,
        "input_files": len(data["inputs"]),
        "files_failed": failed,
        "input_problems": problems,
        "rows_read": totals["rows_read"],
        "rows_scanned": totals["scanned"],
        "rows_rejected": totals["rejected"],
        "per_class": dict(sorted(totals["labels"].items())),
        "per_decision": dict(sorted(totals["decisions"].items())),
        "per_group": groups,
        "renamed_input_columns": totals.get("renamed_columns", []),
        "rows_this_run": rows_this_run,
        "elapsed_s": round(elapsed_s, 3),
        "throughput_rows_per_s": round(rows_this_run / elapsed_s, 1) if elapsed_s > 0 else None,
    }


def format_summary(summary: dict[str, Any], max_group_values: int = 15) -> str:
    lines = [
        f"scan {'complete' if summary['complete'] else 'INCOMPLETE'}: {summary['output']}",
        f"  model {summary['model_version']}, engine {summary['engine']} "
        f"({summary['workers']} workers)",
        f"  rows read {summary['rows_read']:,} = scanned {summary['rows_scanned']:,} + "
        f"rejected {summary['rows_rejected']:,}",
        "  per class:    " + _counts(summary["per_class"]),
        "  per decision: " + _counts(summary["per_decision"]),
    ]
    for column, values in summary["per_group"].items():
        lines.append(f"  per {column}:")
        for value, counts in list(values.items())[:max_group_values]:
            lines.append(f"    {value:28s} {counts['rows']:>10,}  {_counts(counts['decisions'])}")
        if len(values) > max_group_values:
            lines.append(f"    … {len(values) - max_group_values} more in summary.json")
    for failed in summary["files_failed"]:
        lines.append(f"  skipped file {failed['path']}: {failed['error']}")
    for problem in summary["input_problems"]:
        lines.append(f"  input problem: {problem}")
    if summary["renamed_input_columns"]:
        lines.append("  input columns renamed to input_<name>: "
                     + ", ".join(summary["renamed_input_columns"]))
    rate = summary["throughput_rows_per_s"]
    lines.append(f"  this run: {summary['rows_this_run']:,} rows in {summary['elapsed_s']:.1f}s"
                 + (f" ({rate:,.0f} rows/s)" if rate else ""))
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "-"
