"""Markdown writer of the benchmark report: for the repository, charts linked as PNG files."""

from __future__ import annotations

from benchmarks.report.content import ReportContent, Section
from benchmarks.report.predictions import PredictionSection

__all__ = ["render_markdown"]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(section: Section) -> list[str]:
    lines = [f"## {section.heading}", ""]
    if section.summary:
        lines += [section.summary, ""]
    for chart in section.charts:
        lines += [f"![{chart.title}]({chart.png.name})", ""]
        if chart.note:
            lines += [f"*{chart.note}*", ""]
    if isinstance(section, PredictionSection) and section.image is not None:
        lines += [f"![{section.heading}]({section.image.name})", ""]
    if section.rows:
        lines.append("| " + " | ".join(section.headers) + " |")
        lines.append("|" + "|".join("---" for _ in section.headers) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in section.rows]
        lines.append("")
    for note in section.notes:
        lines += [note, ""]
    return lines


def render_markdown(title: str, content: ReportContent) -> str:
    """report.md: the protocol as a list, intro lines as hard line breaks, then each
    section's charts (PNG links with their notes), table and notes."""
    lines = [f"# {title}", ""]
    if content.protocol:
        lines += [f"- **{line.label}**: {line.value}" for line in content.protocol] + [""]
    lines += [f"{line}  " for line in content.intro] + [""]
    for section in content.sections:
        lines += _section(section)
    return "\n".join(lines)
