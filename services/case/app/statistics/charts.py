"""Published tables as SVG pictures (pygal), for the web pages and the exports.

Only what the table publishes is drawn: a hidden figure is a gap (and said so in the
caption), never its value. Bars for a breakdown (age band by sex), a line for a trend
(month, quarter, year), tiles grouped by region for districts. No script, no external
reference: the SVG is safe to inline.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

import pygal
from pygal.style import Style

from shared.events.vocabulary import DISTRICTS, REGIONS

STYLE = Style(
    background="white",
    plot_background="white",
    font_family="sans-serif",
    colors=("#1f5f8b", "#d9822b", "#5b8c5a", "#8e6c8a", "#b33c3c", "#6b6b6b"),
)
TREND = ("month", "quarter", "year")
_SCRIPT = re.compile(r"<script\b[^>]*?(/>|>.*?</script>)", re.S)


def _value(cell: dict[str, Any]) -> int | None:
    value = cell["value"]
    return None if value is None else int(value)


def _caption(table: dict[str, Any]) -> str:
    p = table["period"]
    scope = table["scope"]["region"] or "national"
    return (
        f"{table['description']} {p['from']} to {p['to']}, {scope}."
        f" Figures below {table['suppression']['k']} hidden."
    )


def render(table: dict[str, Any]) -> bytes:
    rows = table["rows"]["dimension"]
    if rows == "district" and table["columns"] is None:
        return _district_tiles(table)
    chart = (pygal.Line if rows in TREND else pygal.Bar)(
        style=STYLE,
        js=[],  # no script: pygal would otherwise load its tooltips from a CDN
        width=800,
        height=420,
        title=f"{table['measure']} by {rows}"
        + (f" and {table['columns']['dimension']}" if table["columns"] else ""),
        x_title=_caption(table),
        x_label_rotation=30 if len(table["rows"]["values"]) > 6 else 0,
        print_values=False,
        show_legend=table["columns"] is not None,
        disable_xml_declaration=True,
    )
    chart.x_labels = table["rows"]["values"]
    if table["columns"] is None:
        chart.add(table["unit"], [_value(c) for c in table["cells"]])
    else:
        for j, col in enumerate(table["columns"]["values"]):
            chart.add(col, [_value(row[j]) for row in table["cells"]])
    return _without_scripts(str(chart.render(is_unicode=True))).encode()


def _without_scripts(svg: str) -> str:
    """pygal always writes its configuration as an (inert) script: drop every script, so
    the picture is inert wherever it is inlined, whatever the page's CSP."""
    svg = _SCRIPT.sub("", svg)
    if "<script" in svg:
        raise ValueError("a script survived")
    return svg


def _district_tiles(table: dict[str, Any]) -> bytes:
    """One tile per district, grouped in a column per region, shaded by its figure."""
    cells = dict(zip(table["rows"]["values"], table["cells"], strict=True))
    shown = [c["value"] for c in cells.values() if c["value"]]
    top = max(shown) if shown else 1
    w, h, pad = 150, 44, 10
    height = 70 + max(len(DISTRICTS[r]) for r in REGIONS) * (h + pad) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{len(REGIONS) * (w + pad) + pad}"'
        f' height="{height}" font-family="sans-serif" font-size="13">',
        f'<text x="{pad}" y="24" font-size="16">{escape(table["measure"])} by district</text>',
    ]
    for i, region in enumerate(REGIONS):
        x = pad + i * (w + pad)
        parts.append(f'<text x="{x}" y="56" font-weight="bold">{escape(region)}</text>')
        for j, district in enumerate(DISTRICTS[region]):
            y = 66 + j * (h + pad)
            cell = cells.get(district, {"value": 0, "shown": "0"})
            v = cell["value"]
            shade = 0.1 if v is None else 0.12 + 0.78 * (v / top)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4"'
                f' fill="#1f5f8b" fill-opacity="{shade:.2f}" stroke="#1f5f8b"/>'
                f'<text x="{x + 8}" y="{y + 18}">{escape(district)}</text>'
                f'<text x="{x + 8}" y="{y + 36}" font-weight="bold">{escape(cell["shown"])}</text>'
            )
    parts.append(
        f'<text x="{pad}" y="{height - 14}" font-size="11">{escape(_caption(table))}</text></svg>'
    )
    return "".join(parts).encode()
