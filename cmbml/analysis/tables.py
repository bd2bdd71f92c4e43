"""Summary tables (mean ± sample std over simulations) and the cross-method leaderboard.

Tables are pandas DataFrames with a label column (``epoch`` for one method's summary, ``model``
for the leaderboard), a ``protocol`` column (the scoring protocol that produced them) and
``<metric>_mean`` and ``<metric>_std`` columns. They are rendered to Markdown and LaTeX with a
caption naming the protocol, one ``mean ± std`` column per metric and the best mean of each
column in bold (lowest for errors, highest for PSNR and R²).

Polarised analyses add a block column: ``field`` (I, Q, U, P) for pixel metrics, ``spectrum``
(TT, EE, BB, TE) for spectrum metrics. Tables with one are rendered as one block per value, each
with its own bold best values (:data:`BLOCK_ORDER`); intensity-only tables have no block column
and keep their single-table layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cmbml.analysis.metrics import HIGHER_IS_BETTER

__all__ = [
    "BLOCK_DEFAULT",
    "BLOCK_ORDER",
    "IDEAL_VALUES",
    "PROTOCOL_TEXT",
    "best_index",
    "build_leaderboard",
    "epoch_label",
    "higher_is_better",
    "load_summary_rows",
    "metric_names",
    "protocol_caption",
    "summarise",
    "to_latex",
    "to_markdown",
]


PROTOCOL_TEXT = {
    "matched": "truth and prediction both at the common resolution, compared at l <= 2 nside",
    "published": (
        "CMB-ML's: each prediction at its own beam against the unbeamed truth, no filtering"
    ),
    "iccv2025": (
        "CMB-ML's ICCV 2025: truth and prediction both brought to each target beam at l < 2 nside"
    ),
}
"""What each scoring protocol compares, for captions."""


BLOCK_ORDER: tuple[str, ...] = ("I", "Q", "U", "P", "TT", "EE", "BB", "TE")
"""Order of the blocks (fields, then spectra) in polarised tables; other values follow."""
BLOCK_DEFAULT: dict[str, str] = {"field": "I", "spectrum": "TT"}
"""The block of a row that has none (an intensity-only method in a polarised table)."""


def block_rank(value: str) -> int:
    """Sort key of a block value: its place in :data:`BLOCK_ORDER`, other values after."""
    return BLOCK_ORDER.index(value) if value in BLOCK_ORDER else len(BLOCK_ORDER)


def protocol_caption(
    protocol: str,
    method: str | None = None,
    ell_max: int | None = None,
    *,
    beam: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """One-line caption naming the scoring protocol (its target ``beam``, the l range of
    spectrum metrics, and ``notes`` such as the mask and the pixel window)."""
    text = f"Protocol: {protocol} ({PROTOCOL_TEXT.get(protocol, 'unknown protocol')})"
    if method is not None:
        text = f"{method}. {text}"
    if beam is not None:
        text += f"; target beam {beam}"
    if ell_max is not None:
        text += f"; spectrum metrics on 2 <= l <= {ell_max}"
    return ". ".join([text, *notes]) + "."


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better.

    The metric's last ``_``-separated token is looked up in
    :data:`cmbml.analysis.metrics.HIGHER_IS_BETTER`, so ``theory_rmse`` is an error and
    ``psnr`` is not.
    """
    return metric.rsplit("_", 1)[-1] in HIGHER_IS_BETTER


#: Metrics with an ideal value rather than a direction: the best is the closest to it. The
#: coverage of the truth by a Gaussian +-1 sigma (68.27 %), the width of the sigma-normalised
#: residuals (1) and the face-edge residual excess (1: edges no worse than the rest of the sky).
IDEAL_VALUES: dict[str, float] = {"coverage_1sigma": 0.6827, "z_std": 1.0, "face_edge_ratio": 1.0}


def summarise(
    rows: pd.DataFrame, metrics: Sequence[str], by: str | Sequence[str] = "epoch"
) -> pd.DataFrame:
    """Mean and sample standard deviation (ddof=1) of per-simulation metrics.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per (simulation, ``by``) with one column per metric.
    metrics : sequence of str
        Metric columns to summarise.
    by : str or sequence of str
        Grouping column(s) (one output row per value, in first-appearance order; e.g.
        ``["epoch", "field"]``).

    Returns
    -------
    pandas.DataFrame
        Columns ``by``, ``n_sims``, then ``<metric>_mean``, ``<metric>_std`` per metric. The std is
        NaN for a group of one simulation.
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*keys, *metrics] if c not in rows.columns]
    if missing:
        raise ValueError(
            f"per-simulation table lacks column(s) {missing}; has {list(rows.columns)}"
        )
    out = []
    for key, group in rows.groupby(keys, sort=False):
        row = {**dict(zip(keys, key, strict=True)), "n_sims": len(group)}
        for m in metrics:
            values = group[m].to_numpy(dtype=np.float64)
            row[f"{m}_mean"] = float(np.mean(values))
            row[f"{m}_std"] = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
        out.append(row)
    return pd.DataFrame(out)


def metric_names(table: pd.DataFrame) -> list[str]:
    """Metrics present in a summary table (those with a ``<metric>_mean`` column), in order."""
    return [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]


def best_index(table: pd.DataFrame, metric: str) -> int | None:
    """Positional index of the best ``<metric>_mean`` (NaNs ignored; None if all NaN): the
    largest, the smallest, or the closest to its :data:`IDEAL_VALUES` entry."""
    values = table[f"{metric}_mean"].to_numpy(dtype=np.float64)
    if np.all(np.isnan(values)):
        return None
    if metric in IDEAL_VALUES:
        return int(np.nanargmin(np.abs(values - IDEAL_VALUES[metric])))
    return int(np.nanargmax(values) if higher_is_better(metric) else np.nanargmin(values))


def _cells(table: pd.DataFrame, label: str, pm: str, bold) -> tuple[list[str], list[list[str]]]:
    metrics = metric_names(table)
    best = {m: best_index(table, m) for m in metrics}
    body = []
    for i, (_, row) in enumerate(table.iterrows()):
        cells = [str(row[label])]
        for m in metrics:
            mean = row[f"{m}_mean"]
            if pd.isna(mean):  # an optional metric the method does not provide
                cells.append("–")
                continue
            text = f"{mean:.4g}"
            std = row.get(f"{m}_std", math.nan)
            if not pd.isna(std):
                text += f"{pm}{std:.2g}"
            cells.append(bold(text) if best[m] == i else text)
        body.append(cells)
    return [label, *metrics], body


def _blocks(table: pd.DataFrame, block: str | None) -> list[tuple[str | None, pd.DataFrame]]:
    """``(value, rows)`` per value of the block column in :data:`BLOCK_ORDER`, or the whole
    table as one unnamed block when there is no such column."""
    if block is None or block not in table.columns:
        return [(None, table)]
    values = list(dict.fromkeys(table[block].astype(str)))
    order = sorted(values, key=block_rank)
    shown = table.drop(columns=block)
    return [(v, shown[table[block].astype(str) == v].reset_index(drop=True)) for v in order]


def to_markdown(
    table: pd.DataFrame,
    label: str,
    *,
    caption: str | None = None,
    block: str | None = None,
    block_titles: dict[str, str] | None = None,
) -> str:
    """Markdown table: ``label`` column then one ``mean ± std`` column per metric, best in bold;
    ``caption`` (e.g. :func:`protocol_caption`) is a paragraph before the table. With a
    ``block`` column (``field``, ``spectrum``), one table per value under a bold title
    (``block_titles[value]``, default the value), best in bold within each."""
    lines = [f"*{caption}*", ""] if caption else []
    for k, (value, rows) in enumerate(_blocks(table, block)):
        header, body = _cells(rows, label, " ± ", lambda s: f"**{s}**")
        if k:
            lines.append("")
        if value is not None:
            lines += [f"**{(block_titles or {}).get(value, value)}**", ""]
        lines += [
            "| " + " | ".join(header) + " |",
            "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def to_latex(
    table: pd.DataFrame,
    label: str,
    *,
    caption: str | None = None,
    block: str | None = None,
    block_titles: dict[str, str] | None = None,
) -> str:
    """LaTeX ``tabular`` (booktabs rules): same layout as :func:`to_markdown`, best in bold;
    ``caption`` is a comment line above it. Blocks become italic full-width rows."""
    blocks = _blocks(table, block)
    header, _ = _cells(blocks[0][1], label, "", str)
    lines = [f"% {caption}"] if caption else []
    lines += [
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(_latex_escape(h.upper() if h != label else h) for h in header) + r" \\",
    ]
    for value, rows in blocks:
        lines.append(r"\midrule")
        if value is not None:
            title = _latex_escape((block_titles or {}).get(value, value))
            lines.append(rf"\multicolumn{{{len(header)}}}{{l}}{{\textit{{{title}}}}} \\")
        _, body = _cells(rows, label, r" $\pm$ ", lambda s: rf"\textbf{{{s}}}")
        for row in body:
            lines.append(" & ".join([_latex_escape(row[0]), *row[1:]]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def load_summary_rows(
    model: str, path: str | Path, epoch, metrics: Sequence[str], protocol: str | None = None
) -> pd.DataFrame:
    """Read one method's summary CSV and return the rows of the requested epoch (one, or one
    per field or spectrum of a polarised summary).

    Parameters
    ----------
    model : str
        Method name (for error messages).
    path : str or Path
        Summary CSV written by the summary stage (column ``epoch``, ``<metric>_mean/_std``).
    epoch : int, str or None
        Epoch to select; compared as text (None matches the ``none`` label of untrained methods).
    metrics : sequence of str
        Metrics the rows must provide.
    protocol : str, optional
        Scoring protocol the summary must have been produced with.

    Raises
    ------
    FileNotFoundError
        If the file does not exist (the message names the method and the file).
    ValueError
        If the epoch or a metric column is missing, or the protocol differs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no result for method '{model}': summary file {path} does not exist "
            "(run that method's analysis first, or fix its working dir or epoch in the "
            "comparison config)"
        )
    table = pd.read_csv(path, dtype={"epoch": str}, keep_default_na=False, na_values=[""])
    if "epoch" not in table.columns:
        raise ValueError(f"method '{model}': {path} has no 'epoch' column")
    wanted = epoch_label(epoch)
    rows = table[table["epoch"] == wanted]
    if rows.empty:
        raise ValueError(
            f"method '{model}': {path} has no row for epoch {wanted!r}; "
            f"available epochs: {list(dict.fromkeys(table['epoch']))}"
        )
    missing = [f"{m}_{s}" for m in metrics for s in ("mean", "std") if f"{m}_{s}" not in rows]
    if missing:
        raise ValueError(f"method '{model}': {path} lacks column(s) {missing}")
    found = set(rows["protocol"]) if "protocol" in rows else {None}
    if protocol is not None and found != {protocol}:
        raise ValueError(
            f"method '{model}': {path} was scored with protocol {sorted(map(str, found))[0]!r}, "
            f"the comparison uses {protocol!r} (rerun that method's analysis with "
            f"model.analysis.protocol={protocol})"
        )
    return rows.reset_index(drop=True)


def epoch_label(epoch) -> str:
    """Text label of an epoch in summary tables: ``str(epoch)``, or ``none`` for None."""
    return "none" if epoch is None else str(epoch)


def build_leaderboard(
    entries: Sequence[tuple[str, str | Path, object]],
    metrics: Sequence[str],
    protocol: str,
    *,
    block: str | None = None,
    optional_metrics: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per method (and per field or spectrum) from the methods' summary files.

    Parameters
    ----------
    entries : sequence of (model, summary_path, epoch)
        Methods in display order.
    metrics : sequence of str
        Metrics to include.
    protocol : str
        The scoring protocol every summary must carry.
    block : str, optional
        Block column of polarised summaries (``field`` or ``spectrum``). When a summary has it,
        the leaderboard has one row per (block value, method) in :data:`BLOCK_ORDER`, methods in
        display order within each; a summary without it (intensity only) counts as the first
        block (``I`` or ``TT``). When none has it, the leaderboard is the intensity-only one.
    optional_metrics : sequence of str, optional
        Metrics some methods lack (``coverage_1sigma`` of a method without sigma maps,
        ``face_edge_ratio``): columns after ``metrics``, NaN where a summary has none.

    Returns
    -------
    pandas.DataFrame
        Columns (``block``), ``model``, ``protocol``, (``ell_min``, ``ell_max`` of polarised
        spectrum summaries), then ``<metric>_mean``, ``<metric>_std`` of ``metrics`` and of
        ``optional_metrics``.
    """
    names = [model for model, _, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"model names in the comparison must be unique, got {names}")
    found = {
        model: load_summary_rows(model, path, epoch, metrics, protocol)
        for model, path, epoch in entries
    }
    blocked = block is not None and any(block in rows for rows in found.values())
    values = [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    extra = [f"{m}_{s}" for m in optional_metrics for s in ("mean", "std")]
    ranges = [c for c in ("ell_min", "ell_max") if blocked and any(c in r for r in found.values())]
    out = []
    for model, rows in found.items():
        for _, row in rows.iterrows():
            entry = {"model": model, "protocol": protocol}
            entry.update({c: row.get(c, math.nan) for c in ranges})
            entry.update({v: float(row[v]) for v in values})
            entry.update({v: float(row.get(v, math.nan)) for v in extra})
            if blocked:
                entry = {block: str(row.get(block, BLOCK_DEFAULT[block])), **entry}
            out.append(entry)
            if not blocked:
                break
    columns = ["model", "protocol", *ranges, *values, *extra]
    if not blocked:
        return pd.DataFrame(out, columns=columns)
    board = pd.DataFrame(out, columns=[block, *columns])
    for c in ranges:  # multipoles; empty for an intensity-only method's TT row
        board[c] = board[c].astype("Int64")
    order = sorted(range(len(board)), key=lambda i: (block_rank(board[block][i]), i))
    return board.iloc[order].reset_index(drop=True)
