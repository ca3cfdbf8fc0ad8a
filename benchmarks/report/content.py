"""What the benchmark report says, independent of format.

:mod:`benchmarks.report.sections` builds one :class:`ReportContent`;
:mod:`benchmarks.report.markdown` and :mod:`benchmarks.report.html` render the same object,
so the two files cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.figures.files import Chart

__all__ = ["ProtocolLine", "ReportContent", "Section"]


@dataclass
class Section:
    """One report section; ``summary`` and ``notes`` may use Markdown **bold**."""

    heading: str
    summary: str = ""
    charts: list[Chart] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProtocolLine:
    """One line of the header block: what was held fixed (or varied) and its value(s)."""

    label: str
    value: str


@dataclass
class ReportContent:
    """The whole report: the protocol header block, intro lines, then the sections."""

    protocol: list[ProtocolLine] = field(default_factory=list)
    intro: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
