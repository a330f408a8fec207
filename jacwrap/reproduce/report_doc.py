"""The report as a list of blocks (headings, text, tables, figures, data links), and its
Markdown form. :mod:`jacwrap.reproduce.report_html` renders the same blocks as HTML, so
``index.md`` and ``report.html`` cannot drift apart.

Text may hold ``code`` spans (backticks); nothing else is interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    """A table of strings; ``numeric`` marks the right-aligned columns."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Image:
    """A PNG (path relative to the report's folder) with its caption."""

    path: str
    caption: str


@dataclass(frozen=True)
class Links:
    """The data files behind the block before it (paths relative to the report's folder)."""

    label: str
    paths: tuple[str, ...]


Block = Heading | Text | Table | Image | Links


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(blocks: list[Block]) -> str:
    """Markdown of the blocks (GitHub flavour: pipe tables)."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Text):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            num = b.numeric or (False,) * len(b.columns)
            lines.append("| " + " | ".join(_md_cell(c) for c in b.columns) + " |")
            lines.append("|" + "|".join("---:" if n else "---" for n in num) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
            lines.append("")
        elif isinstance(b, Image):
            lines += [f"![{b.caption}]({b.path})", "", f"*{b.caption}*", ""]
        else:
            links = ", ".join(f"[{p.rsplit('/', 1)[-1]}]({p})" for p in b.paths)
            lines += [f"{b.label}: {links}.", ""]
    return "\n".join(lines).rstrip() + "\n"
