"""HTML building blocks of the report: one inline style sheet, escaping, tables and the page frame. No script, no
network: every page is a static file that reads the same in any browser, offline."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

STYLE = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       max-width: 1200px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 1px solid #ddd;
       padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
a { color: #0b57d0; text-decoration: none; } a:hover { text-decoration: underline; }
.muted { color: #666; font-size: 13px; } code { font: 13px ui-monospace, Menlo, Consolas, monospace;
       background: #f4f4f6; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #fafafa; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #137333; font-weight: 600; } .fail { color: #c5221f; font-weight: 600; } .none { color: #888; }
.entry { display: grid; grid-template-columns: minmax(0, 1fr) 460px; gap: 20px; padding: 12px 0;
       border-bottom: 1px solid #eee; }
.entry img { width: 460px; border: 1px solid #eee; border-radius: 4px; }
img.figure { max-width: 100%; border: 1px solid #eee; border-radius: 4px; }
.papers { font-size: 13px; color: #444; margin: 4px 0; padding-left: 18px; }
nav { margin-bottom: 16px; font-size: 14px; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    """A measured value for a table cell: 4 significant digits, "never" for NaN, the infinities spelled out."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value)
    if isinstance(value, float) and math.isnan(value):
        return "never"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.4g}"


def verdict_cell(passed: bool | None) -> str:
    """PASS / FAIL / – as a coloured cell."""
    if passed is None:
        return '<td class="none">–</td>'
    return '<td class="pass">PASS</td>' if passed else '<td class="fail">FAIL</td>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table; cells are HTML already (escape them first), except cells that are complete ``<td>`` elements."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if cell.startswith("<td"):
                cells.append(cell)
            else:
                cells.append(f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, body: str, root: str = "") -> str:
    """A complete page: title, the inline style, a link back to the index (``root`` is the path to it)."""
    nav = f'<nav><a href="{root}index.html">← phenomena report</a></nav>' if root else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>{nav}{body}</body></html>\n"
    )
