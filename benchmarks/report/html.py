"""HTML writer of the benchmark report: one self-contained file (inline SVG charts, inline CSS,
no scripts) that can be mailed or attached to CI artifacts."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from benchmarks.report.content import ReportContent, Section
from benchmarks.report.predictions import PredictionSection

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:0.9em;margin:1em 0}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1em}
figure{margin:0}figure svg{max-width:100%;height:auto}
figcaption{font-size:0.85em;color:#555}.note{font-size:0.85em;color:#555}
.protocol{font-size:0.9em;columns:2;column-gap:2em}
"""


def _html_inline(text: str) -> str:
    """Escape, then turn the Markdown **bold** used in summaries into <strong>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def _inline_svg(path: Path) -> str:
    """SVG markup without the XML prolog/doctype, which are not allowed inside HTML."""
    text = path.read_text(encoding="utf-8")
    return text[text.index("<svg") :]


def _section(section: Section) -> list[str]:
    esc = html.escape
    parts = [f"<section><h2>{esc(section.heading)}</h2>"]
    if section.summary:
        parts.append(f"<p>{_html_inline(section.summary)}</p>")
    parts.append('<div class="charts">' if section.charts else "")
    for chart in section.charts:
        note = f'<br><span class="note">{esc(chart.note)}</span>' if chart.note else ""
        parts.append(
            f'<figure data-chart="{esc(chart.svg.name)}">{_inline_svg(chart.svg)}'
            f"<figcaption>{esc(chart.title)}{note}</figcaption></figure>"
        )
    parts.append("</div>" if section.charts else "")
    if isinstance(section, PredictionSection) and section.image is not None:
        data = base64.b64encode(section.image.read_bytes()).decode("ascii")
        parts.append(
            f'<figure data-image="{esc(section.image.name)}"><img alt="{esc(section.heading)}" '
            f'src="data:image/png;base64,{data}" style="max-width:100%"></figure>'
        )
    if section.rows:
        head = "".join(f"<th>{esc(h)}</th>" for h in section.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in section.rows
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts += [f'<p class="note">{_html_inline(note)}</p>' for note in section.notes]
    parts.append("</section>")
    return parts


def render_html(title: str, content: ReportContent) -> str:
    """report.html: the same content as report.md, with the SVG charts inlined."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if content.protocol:
        items = "".join(
            f"<li><strong>{esc(line.label)}</strong>: {esc(line.value)}</li>"
            for line in content.protocol
        )
        parts.append(f'<ul class="protocol">{items}</ul>')
    parts += [f"<p>{_html_inline(line)}</p>" for line in content.intro]
    for section in content.sections:
        parts += _section(section)
    parts.append("</body></html>")
    return "\n".join(parts)
