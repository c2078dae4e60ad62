"""One self-contained HTML page for a suite run: tables, and the plots inline as base64 PNGs."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
td.bad { background: #fbe3e3; }
.example { border-left: 3px solid #ddd; padding: 4px 10px; margin: 6px 0; }
.meta { color: #666; font-size: 0.85em; }
img { max-width: 100%; }
"""


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def table(header: Sequence[str], rows: Sequence[Sequence[Any]],
          bad: Sequence[Sequence[bool]] | None = None) -> str:
    """An HTML table; cells flagged in ``bad`` are shaded (a target missed)."""
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cells = []
        for j, value in enumerate(row):
            flag = bad is not None and bad[i][j]
            opening = '<td class="bad">' if flag else "<td>"
            cells.append(f"{opening}{_cell(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def page(title: str, sections: list[tuple[str, str]], meta: str = "") -> str:
    """``sections`` are (heading, inner HTML) pairs."""
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{inner}" for h, inner in sections)
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='meta'>{meta}</p>\n{body}\n</body></html>\n")
