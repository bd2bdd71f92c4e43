"""Stage ``analysis_summaries``: per-split tables of metrics (mean ± std) and mean spectra."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from cmbml.analysis import spectra, tables
from cmbml.analysis.stages.base import SPECTRUM_KEYS, AnalysisStage

__all__ = ["BLOCKS", "AnalysisSummaries", "by_spectrum", "metric_columns", "spectrum_titles"]

ID_COLUMNS = ("sim", "epoch", "field", "spectrum", "ell_min", "ell_max", "protocol")
BLOCKS = {"pixel": "field", "ps": "spectrum"}
"""The block column of each kind of polarised table (absent from intensity-only tables)."""


def metric_columns(rows: pd.DataFrame) -> list[str]:
    """The metric columns of a per-simulation table (not ids, not the ``cosmo_*`` columns)."""
    return [c for c in rows.columns if c not in ID_COLUMNS and not c.startswith("cosmo_")]


def by_spectrum(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of each spectrum of a spectra table (``{"TT": table}`` when it has no
    ``spectrum`` column), without that column."""
    if "spectrum" not in table:
        return {"TT": table}
    return {
        str(key): group.drop(columns="spectrum").reset_index(drop=True)
        for key, group in table.groupby("spectrum", sort=False)
    }


def spectrum_titles(table: pd.DataFrame) -> dict[str, str]:
    """Block titles ``"EE (2 <= l <= 128)"`` of a table with ``spectrum``, ``ell_min`` and
    ``ell_max`` columns (distinct ranges of several methods joined by ``/``)."""
    if not {"spectrum", "ell_min", "ell_max"} <= set(table.columns):
        return {}
    titles = {}
    for key, group in table.groupby("spectrum", sort=False):
        first, last = (
            "/".join(str(int(v)) for v in dict.fromkeys(group[c].dropna()))
            for c in ("ell_min", "ell_max")
        )
        if first and last:
            titles[str(key)] = f"{key} ({first} <= l <= {last})"
    return titles


class AnalysisSummaries(AnalysisStage):
    """Summaries over each analysed split, labelled with the scoring protocol.

    For pixel metrics (once per scoring: per target beam under ``iccv2025``, in
    ``Analysis/iccv2025/<beam>/Summary``) and power-spectrum metrics (once per protocol): the
    table of all per-simulation rows and the
    mean ± sample standard deviation (ddof = 1) per metric and epoch (and field or spectrum when
    polarised), as CSV (with a ``protocol`` column; polarised spectrum summaries also carry the
    ``ell_min`` and ``ell_max`` of each spectrum's metrics), Markdown and LaTeX (a protocol
    caption; best epoch in bold; a block per field or spectrum when polarised). For each epoch:
    the binned D_l averaged over simulations (theory, truth, prediction, residual, with their
    standard deviations and the Knox cosmic-variance standard deviation of the binned theory for
    the effective f_sky of the apodised mask) and the multipole range of the spectrum metrics
    (``ell_max_metrics``; and ``ell_min_metrics`` and a ``spectrum`` column when polarised).

    Config: ``model.analysis.{protocol, lmax, bin_width, beam_floor, spectrum_lmin}`` and the
    method entry. Reads ``analysis_pixel_metrics``, ``analysis_ps_metrics``,
    ``analysis_spectra``, ``analysis_mask_apod``; writes (per split) ``analysis_pixel_table``,
    ``analysis_pixel_summary``, ``analysis_pixel_summary_md``, ``analysis_pixel_summary_tex``,
    the same four ``analysis_ps_*`` entries, and ``analysis_ps_mean`` (split, epoch).
    """

    name = "analysis_summaries"
    per_sim = False
    covers_units = True
    fixed_inputs = (
        "analysis_pixel_metrics",
        "analysis_ps_metrics",
        "analysis_spectra",
        "analysis_mask_apod",
    )
    outputs = (
        "analysis_pixel_table",
        "analysis_pixel_summary",
        "analysis_pixel_summary_md",
        "analysis_pixel_summary_tex",
        "analysis_ps_table",
        "analysis_ps_summary",
        "analysis_ps_summary_md",
        "analysis_ps_summary_tex",
        "analysis_ps_mean",
    )
    analysis_keys = SPECTRUM_KEYS

    def run(self) -> None:
        """Write the summaries of every analysed split."""
        sims = defaultdict(list)
        for split, sim in self.units():
            sims[split].append(sim)
        fsky = spectra.effective_fsky(self.read_mask("analysis_mask_apod"))
        for split, split_sims in sims.items():
            kinds = [("pixel", scoring) for scoring, _ in self.scorings()]
            for kind, scoring in [*kinds, ("ps", self.protocol)]:
                where = dict(split=split, scoring=scoring)
                rows = pd.concat(
                    [self.read(f"analysis_{kind}_metrics", sim=s, **where) for s in split_sims],
                    ignore_index=True,
                )
                rows["epoch"] = rows["epoch"].astype(str)
                self._write_summary(kind, BLOCKS[kind], rows, where)
            for epoch in self.epochs:
                self.write(
                    "analysis_ps_mean",
                    self._mean_spectra(split, split_sims, epoch, fsky),
                    split=split,
                    epoch=epoch,
                )

    def _write_summary(self, kind: str, block: str, rows: pd.DataFrame, where: dict) -> None:
        """Per-simulation table, summary CSV, Markdown and LaTeX of one kind of metrics, in the
        ``where`` (split, scoring) folder."""
        blocked = block in rows
        if blocked:
            rows[block] = rows[block].fillna(tables.BLOCK_DEFAULT[block])
        by = ["epoch", block] if blocked else "epoch"
        summary = tables.summarise(rows, metric_columns(rows), by=by)
        summary.insert(2 if blocked else 1, "protocol", self.protocol)
        if blocked and "ell_max" in rows:
            ranges = rows.groupby(by, sort=False)[["ell_min", "ell_max"]].first().reset_index()
            summary = summary.merge(ranges, on=by, how="left", sort=False)
            front = [*by, "protocol", "ell_min", "ell_max"]
            summary = summary[[*front, *(c for c in summary.columns if c not in front)]]
        rows.insert(2, "protocol", self.protocol)
        self.write(f"analysis_{kind}_table", rows, **where)
        self.write(f"analysis_{kind}_summary", summary, **where)
        beam = where["scoring"].partition("/")[2] or None
        if blocked:
            caption = tables.protocol_caption(self.protocol, self.method["name"], beam=beam)
            titles = spectrum_titles(summary)
        else:
            caption = tables.protocol_caption(
                self.protocol, self.method["name"], self.metric_lmax(), beam=beam
            )
            titles = None
        shown = dict(block=block, block_titles=titles, caption=caption)
        self.write(
            f"analysis_{kind}_summary_md", tables.to_markdown(summary, "epoch", **shown), **where
        )
        self.write(
            f"analysis_{kind}_summary_tex", tables.to_latex(summary, "epoch", **shown), **where
        )

    def _mean_spectra(self, split: str, sims: list[int], epoch, fsky: float) -> pd.DataFrame:
        """Binned D_l averaged over ``sims`` with their sample standard deviations, per
        spectrum."""
        edges = spectra.bin_edges(
            spectra.LMIN, int(self.option("lmax")), int(self.option("bin_width"))
        )
        columns = ("theory", "truth", "prediction", "residual")
        parts = {}
        for sim in sims:
            table = self.read("analysis_spectra", split=split, sim=sim, epoch=epoch)
            for key, part in by_spectrum(table).items():
                parts.setdefault(key, []).append(part)
        polarised = len(parts) > 1
        theory = {
            key: np.mean([p["theory"].to_numpy() for p in ps], axis=0) for key, ps in parts.items()
        }
        out = []
        for key, tables_ in parts.items():
            mean = {
                "ell_min": edges[:-1],
                "ell_max": edges[1:] - 1,
                "ell": spectra.bin_centres(edges),
            }
            for c in columns:
                values = np.array([spectra.bin_spectrum(t[c].to_numpy(), edges) for t in tables_])
                mean[c] = values.mean(axis=0)
                mean[f"{c}_std"] = values.std(axis=0, ddof=1) if len(tables_) > 1 else np.nan
            auto = (theory["TT"], theory["EE"]) if key == "TE" else None
            mean["theory_sigma"] = spectra.knox_sigma(theory[key], edges, fsky, auto=auto)
            first, last = self.metric_range(key)
            if polarised:
                mean["ell_min_metrics"] = first
            mean["ell_max_metrics"] = last
            mean["protocol"] = self.protocol
            frame = pd.DataFrame(mean)
            if polarised:
                frame.insert(0, "spectrum", key)
            out.append(frame)
        return pd.concat(out, ignore_index=True)
