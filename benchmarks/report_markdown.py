"""Markdown writer of the benchmark report: for the repository, charts linked as PNG files."""

from __future__ import annotations

from benchmarks.report_sections import Section

__all__ = ["render_markdown"]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, intro: list[str], sections: list[Section]) -> str:
    """report.md: intro lines as hard line breaks, then each section's charts and table."""
    lines = [f"# {title}", ""]
    lines += [f"{line}  " for line in intro] + [""]
    for section in sections:
        lines += [f"## {section.heading}", ""]
        if section.summary:
            lines += [section.summary, ""]
        for chart in section.charts:
            lines += [f"![{chart.title}]({chart.png.name})", ""]
        if section.rows:
            lines.append("| " + " | ".join(section.headers) + " |")
            lines.append("|" + "|".join("---" for _ in section.headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in section.rows]
            lines.append("")
        if section.note:
            lines += [section.note, ""]
    return "\n".join(lines)
