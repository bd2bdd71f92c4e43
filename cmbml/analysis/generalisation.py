"""Generalisation table: each method's metrics on shifted test splits over their in-distribution
values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

__all__ = ["COLUMNS", "generalisation_table", "markdown_table"]

COLUMNS = ["model", "split", "metric", "in_distribution", "value", "ratio"]
"""Columns of the generalisation table."""


def _keyed(board: pd.DataFrame, block: str | None) -> dict[tuple[str, str | None], pd.Series]:
    """(model, block value or None) -> leaderboard row."""
    has_block = block is not None and block in board
    return {
        (str(row["model"]), str(row[block]) if has_block else None): row
        for _, row in board.iterrows()
    }


def generalisation_table(
    boards: Mapping[str, pd.DataFrame],
    reference: str,
    metrics: Sequence[str],
    block: str | None = None,
) -> pd.DataFrame:
    """Each method's mean metric on every split next to its value on the ``reference`` split.

    Parameters
    ----------
    boards : mapping
        Split name -> leaderboard (:func:`cmbml.analysis.tables.build_leaderboard`: columns
        ``model``, ``<metric>_mean`` ..., and ``block`` when polarised), in display order.
    reference : str
        The in-distribution split (a key of ``boards``).
    metrics : sequence of str
        Metrics to compare.
    block : str, optional
        Block column (``field`` or ``spectrum``); a row's metric is then named
        ``"<metric> (<block value>)"``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, one row per (model, split other than ``reference``, metric
        [, block]); ``ratio = value / in_distribution`` (NaN when the reference value is 0).
        For error metrics (MAE, RMSE ...) a ratio above 1 is a degradation; for R² and PSNR one
        below 1.
    """
    if reference not in boards:
        raise KeyError(f"in-distribution split '{reference}' has no leaderboard ({list(boards)})")
    base = _keyed(boards[reference], block)
    rows = []
    for split, board in boards.items():
        if split == reference:
            continue
        for (model, where), row in _keyed(board, block).items():
            if (model, where) not in base:
                continue
            for metric in metrics:
                ref = float(base[(model, where)][f"{metric}_mean"])
                value = float(row[f"{metric}_mean"])
                name = metric if where is None else f"{metric} ({where})"
                ratio = value / ref if ref != 0 else math.nan
                rows.append([model, split, name, ref, value, ratio])
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown_table(table: pd.DataFrame, caption: str = "") -> str:
    """A table (the generalisation table, a reference board) as Markdown: numbers to 4
    significant digits, a caption line first."""
    lines = [caption, ""] if caption else []
    lines.append("| " + " | ".join(map(str, table.columns)) + " |")
    lines.append("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        cells = [str(v) if isinstance(v, str) else f"{v:.4g}" for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
