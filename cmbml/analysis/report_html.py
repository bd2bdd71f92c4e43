"""HTML of the results report: sortable leaderboard tables, figures and provenance, in one
self-contained page (inline style and script, no external resource, readable from file://).

Every text that comes from data (method names, file names, config values) goes through
:func:`html.escape`. Tables are built from a leaderboard CSV (:func:`csv_tables`) or, for a
table that exists only in Markdown, from its pipe tables (:func:`markdown_tables`); both give
:class:`Table` objects that :func:`render_table` writes. The page's script sorts a table when a
column header is clicked and marks the page ``data-report-ready="1"`` once it has run (and
``data-report-error`` with the message if any script fails).
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cmbml.analysis import tables
from cmbml.analysis.stages.summaries import spectrum_titles

__all__ = [
    "Cell",
    "Table",
    "csv_tables",
    "data_uri",
    "details",
    "markdown_tables",
    "page",
    "render_table",
]

STYLE = """
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #dde1e8;
  --head: #f3f5f8; --accent: #1f5fae; --best: #e8f3ea; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica,
  Arial, sans-serif; color: var(--fg); background: #fff; }
header { padding: 1.4rem 2rem 1rem; border-bottom: 1px solid var(--line); background: #fafbfc; }
h1 { margin: 0 0 .3rem; font-size: 1.55rem; }
h2 { margin: 2.2rem 0 .6rem; font-size: 1.3rem; border-bottom: 2px solid var(--line);
  padding-bottom: .25rem; }
h3 { margin: 1.6rem 0 .4rem; font-size: 1.08rem; }
h4 { margin: 1rem 0 .3rem; font-size: .95rem; color: var(--muted); }
main { padding: 0 2rem 3rem; max-width: 1400px; }
nav a { margin-right: 1rem; color: var(--accent); text-decoration: none; }
.meta, .caption, .source { color: var(--muted); font-size: .88rem; }
.source { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-weight: normal; margin-left: .5rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .3rem 0 1rem; font-size: .88rem; }
th, td { padding: .32rem .7rem; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
thead th { background: var(--head); position: sticky; top: 0; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button:focus-visible { outline: 2px solid var(--accent); }
th[aria-sort="ascending"] button::after { content: " \\25B2"; font-size: .7em; }
th[aria-sort="descending"] button::after { content: " \\25BC"; font-size: .7em; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.best { background: var(--best); }
td code, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .82rem; }
figure { display: inline-block; margin: .5rem 1rem 1rem 0; vertical-align: top; }
figure img { max-width: 640px; width: 100%; border: 1px solid var(--line); }
figure.thumb img { max-width: 300px; }
figcaption { font-size: .8rem; color: var(--muted); }
details details { margin-left: 1.2rem; }
details pre { max-height: 22rem; overflow: auto; background: #f6f8fa; padding: .6rem;
  font-size: .78rem; text-align: left; white-space: pre; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dt { color: var(--muted); } dd { margin: 0; }
footer { padding: 1rem 2rem; color: var(--muted); font-size: .8rem;
  border-top: 1px solid var(--line); }
"""

GUARD = """
window.addEventListener("error", function (event) {
  document.documentElement.setAttribute("data-report-error", String(event.message));
});
"""

SORTER = """
(function () {
  "use strict";
  function key(cell) {
    var value = cell.getAttribute("data-v");
    if (value !== null && value !== "" && !isNaN(Number(value))) { return Number(value); }
    return cell.textContent.trim();
  }
  function order(a, b, ascending) {
    var an = typeof a === "number", bn = typeof b === "number";
    if (an !== bn) { return an ? -1 : 1; }
    var d = an ? a - b : a.localeCompare(b);
    return ascending ? d : -d;
  }
  function sortBy(table, index) {
    var th = table.tHead.rows[0].cells[index];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      return order(key(r.cells[index]), key(s.cells[index]), ascending);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.querySelector("button").addEventListener("click", function () {
        sortBy(table, index);
      });
    });
  });
  document.documentElement.setAttribute("data-report-ready", "1");
})();
"""

#: Content policy of the page: nothing but its own inline style and script, and images that are
#: embedded or lie beside it.
CSP = "default-src 'none'; img-src data: file: 'self'; style-src 'unsafe-inline'; " + (
    "script-src 'unsafe-inline'"
)


@dataclass(frozen=True)
class Cell:
    """A table cell: shown ``text``, numeric ``sort`` key (None: sort as text), ``best``."""

    text: str
    sort: float | None = None
    best: bool = False


@dataclass
class Table:
    """A table to render: column ``header`` (with tooltips ``hints``), ``rows`` of cells, an
    optional block ``title`` and the ``source`` file it came from (for ``data-source``)."""

    header: list[str]
    rows: list[list[Cell]]
    title: str | None = None
    source: str = ""
    hints: list[str] = field(default_factory=list)


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _plain_cell(value) -> Cell:
    number = _number(value)
    if number is None or isinstance(value, str):
        text = "–" if value is None or pd.isna(value) else str(value)
        return Cell(text, _number(text))
    return Cell(f"{number:.4g}", number)


def _metric_cell(row: pd.Series, metric: str, best: bool) -> Cell:
    mean, std = _number(row[f"{metric}_mean"]), _number(row.get(f"{metric}_std"))
    text = "–" if mean is None else f"{mean:.4g}"
    if mean is not None and std is not None:
        text += f" ± {std:.2g}"
    return Cell(text, mean, best)


def _block_tables(rows: pd.DataFrame, source: str, title: str | None) -> Table:
    metrics = tables.metric_names(rows)
    columns = [c for c in rows.columns if c.removesuffix("_std") not in metrics]
    if "protocol" in columns and rows["protocol"].nunique() <= 1:
        columns.remove("protocol")  # the section names it
    best = {m: tables.best_index(rows, m) for m in metrics}
    body = []
    for i, (_, row) in enumerate(rows.iterrows()):
        body.append(
            [
                _metric_cell(row, c[: -len("_mean")], best[c[: -len("_mean")]] == i)
                if c.removesuffix("_mean") in metrics
                else _plain_cell(row[c])
                for c in columns
            ]
        )
    header = [c.removesuffix("_mean") if c.removesuffix("_mean") in metrics else c for c in columns]
    hints = [
        ("higher is better" if tables.higher_is_better(h) else "lower is better")
        if h in metrics
        else ""
        for h in header
    ]
    return Table(header, body, title, source, hints)


def csv_tables(table: pd.DataFrame, source: str) -> list[Table]:
    """Tables of a leaderboard CSV: one per block (``field``, ``spectrum``) when it has a block
    column, else one. ``<metric>_mean`` / ``<metric>_std`` pairs become one ``mean ± std``
    column (sorted by the mean, best of the block marked); other columns are shown as they are,
    but a ``protocol`` column with one value is left out."""
    block = next((c for c in tables.BLOCK_DEFAULT if c in table.columns), None)
    titles = spectrum_titles(table)
    ranges = [c for c in ("ell_min", "ell_max") if titles and c in table.columns]
    return [
        _block_tables(rows.drop(columns=ranges), source, None if v is None else titles.get(v, v))
        for v, rows in tables._blocks(table, block)
    ]


_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_RULE = re.compile(r"^[\s|:-]+$")


def _md_cell(text: str) -> Cell:
    text = text.strip()
    strong = text.startswith("**") and text.endswith("**") and len(text) > 4
    text = text.strip("*").strip()
    return Cell(text, _number(text.split(" ")[0]), strong)


def markdown_tables(text: str, source: str) -> tuple[str | None, list[Table]]:
    """The caption (a first line in ``*italics*``) and the pipe tables of a Markdown file; a
    ``**bold**`` line before a table is its title. Cells in bold are marked best."""
    lines = text.splitlines()
    caption = None
    if lines and re.fullmatch(r"\*[^*].*\*", lines[0].strip()):
        caption = lines[0].strip()[1:-1]
    found: list[Table] = []
    title, current = None, None
    for line in lines:
        match = _ROW.match(line)
        if match is None:
            current = None
            if line.strip().startswith("**") and line.strip().endswith("**"):
                title = line.strip().strip("*").strip()
            continue
        cells = match.group(1).split("|")
        if current is None:
            current = Table([c.strip() for c in cells], [], title, source)
            found.append(current)
            title = None
        elif not _RULE.match(match.group(1)):
            current.rows.append([_md_cell(c) for c in cells])
    return caption, found


def _header_cell(name: str, hint: str, text: bool) -> str:
    tip = f' title="{html.escape(hint)}"' if hint else ""
    tip += ' class="text"' if text else ""
    return f'<th scope="col"{tip}><button type="button">{html.escape(name)}</button></th>'


def _body_cell(cell: Cell) -> str:
    text = html.escape(cell.text)
    if cell.best:
        return f'<td class="best" data-v="{cell.sort!r}"><strong>{text}</strong></td>'
    if cell.sort is None:
        return f'<td class="text">{text}</td>'
    return f'<td data-v="{cell.sort!r}">{text}</td>'


def render_table(table: Table) -> str:
    """A ``<table class="sortable">`` (a header button per column) under its block title."""
    hints = table.hints or [""] * len(table.header)
    first = table.rows[0] if table.rows else []
    text = [i >= len(first) or first[i].sort is None for i in range(len(table.header))]
    head = "".join(map(_header_cell, table.header, hints, text))
    body = "".join("<tr>" + "".join(map(_body_cell, row)) + "</tr>" for row in table.rows)
    title = f"<h4>{html.escape(table.title)}</h4>" if table.title else ""
    return (
        f'{title}<div class="scroll"><table class="sortable" '
        f'data-source="{html.escape(table.source)}" data-block="{html.escape(table.title or "")}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI (the page carries its figures)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def details(summary: str, text: str) -> str:
    """A collapsed ``<details>`` block showing preformatted ``text``."""
    return (
        f"<details><summary>{html.escape(summary)}</summary>"
        f"<pre>{html.escape(text)}</pre></details>"
    )


def page(title: str, subtitle: str, nav: Iterable[tuple[str, str]], body: str, footer: str) -> str:
    """The whole document: ``nav`` is ``(anchor id, label)`` pairs; ``body`` is trusted HTML
    built by this module's functions; the other texts are escaped here."""
    links = "".join(
        f'<a href="#{html.escape(anchor)}">{html.escape(label)}</a>' for anchor, label in nav
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<script>{GUARD}</script></head>\n<body>"
        f'<header><h1>{html.escape(title)}</h1><p class="meta">{html.escape(subtitle)}</p>'
        f"<nav>{links}</nav></header>\n<main>{body}</main>\n"
        f"<footer>{html.escape(footer)}</footer><script>{SORTER}</script></body></html>\n"
    )
