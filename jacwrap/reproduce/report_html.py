"""``report.html``: the report's blocks as one self-contained HTML page.

Figures are embedded as base64 ``data:`` URIs, so the page opens in a browser on its own;
links to the CSV/JSON files stay relative (they lie beside it). Plain HTML and a little CSS,
no scripts.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from jacwrap.reproduce.report_doc import Block, Heading, Image, Links, Table, Text

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #444; }
code { background: #f3f3f3; padding: 0 0.2em; }
p.data { font-size: 0.85em; color: #555; }
"""


def _inline(text: str) -> str:
    """Escape ``text``; backtick spans become <code>."""
    parts = re.split(r"`([^`]*)`", text)
    return "".join(
        f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
    )


def _table(b: Table) -> str:
    num = b.numeric or (False,) * len(b.columns)
    head = "".join(f"<th>{_inline(c)}</th>" for c in b.columns)
    rows = "".join(
        "<tr>" + "".join(
            f'<td class="num">{_inline(c)}</td>' if n else f"<td>{_inline(c)}</td>"
            for c, n in zip(r, num, strict=True)
        ) + "</tr>\n"
        for r in b.rows
    )  # fmt: skip
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"


def _image(b: Image, root: Path) -> str:
    data = base64.b64encode((root / b.path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(b.caption, quote=True)}" '
        f'src="data:image/png;base64,{data}">'
        f"<figcaption>{_inline(b.caption)}</figcaption></figure>"
    )


def _links(b: Links) -> str:
    links = ", ".join(
        f'<a href="{html.escape(p, quote=True)}">{html.escape(p.rsplit("/", 1)[-1])}</a>'
        for p in b.paths
    )
    return f'<p class="data">{_inline(b.label)}: {links}.</p>'


def to_html(blocks: list[Block], root: Path, title: str) -> str:
    """The page; image paths are read relative to ``root`` (the report's folder)."""
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            body.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, Image):
            body.append(_image(b, root))
        elif isinstance(b, Links):
            body.append(_links(b))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
