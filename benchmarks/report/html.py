"""HTML writer of the benchmark report: one self-contained file (inline SVG charts, inline CSS,
one small inline script, no external resources) that can be mailed or attached to CI
artifacts.

The script sorts a table by the header clicked (again: the other way), so a reader can
rank the runs by any column; report.md keeps the report's own order. Cells are compared as
numbers when every filled cell of the column starts with one (``1,269.0``, ``0.950 ± 0.007``,
``64x64``), else as text in natural order (``seg_2`` before ``seg_10``); empty and missing
(``–``) cells stay last either way. A table wider than the page scrolls sideways rather
than being cut off.
"""

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
table{border-collapse:collapse;font-size:0.85em;margin:1em 0}
th,td{border:1px solid #ccc;padding:0.25em 0.4em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1em}
figure{margin:0}figure svg{max-width:100%;height:auto}
figcaption{font-size:0.85em;color:#555}.note{font-size:0.85em;color:#555}
.protocol{font-size:0.9em;columns:2;column-gap:2em}
table.sortable th{cursor:pointer;user-select:none}
.table{overflow-x:auto;max-width:100%}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
"""

_SORT_SCRIPT = r"""
(function () {
  var NUMBER = /^([-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?)(?:$|\s|x\d)/i;
  function missing(text) { return text === "" || text === "\u2013"; }
  function number(text) {
    var found = NUMBER.exec(text);
    return found ? parseFloat(found[1].replace(/,/g, "")) : null;
  }
  function compare(a, b, numeric) {
    if (numeric) { return a.value - b.value; }
    return a.text.localeCompare(b.text, undefined, {numeric: true});
  }
  function sortTable(table, column, ascending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, index) {
      var cell = row.cells[column];
      var text = cell ? cell.textContent.trim() : "";
      return {row: row, index: index, text: text, value: number(text)};
    });
    var numeric = rows.every(function (r) { return missing(r.text) || r.value !== null; });
    rows.sort(function (a, b) {
      var gone = missing(a.text) - missing(b.text);
      if (gone || missing(a.text)) { return gone || a.index - b.index; }
      var order = compare(a, b, numeric);
      return (ascending ? order : -order) || a.index - b.index;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, column) {
      th.tabIndex = 0;
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        sortTable(table, column, ascending);
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });
})();
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
        head = "".join(
            f'<th scope="col" title="Sort by {esc(h)}">{esc(h)}</th>' for h in section.headers
        )
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in section.rows
        )
        # In a box that scrolls sideways: a table wider than the page is never cut off.
        parts.append(
            f'<div class="table"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
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
    parts.append(f"<script>{_SORT_SCRIPT}</script></body></html>")
    return "\n".join(parts)
