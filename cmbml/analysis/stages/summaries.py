"""Stage ``analysis_summaries``: per-split tables of metrics (mean ± std) and mean spectra."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from cmbml.analysis import spectra, tables
from cmbml.analysis.stages.base import AnalysisStage

__all__ = ["AnalysisSummaries", "metric_columns"]

ID_COLUMNS = ("sim", "epoch", "ell_max", "protocol")


def metric_columns(rows: pd.DataFrame) -> list[str]:
    """The metric columns of a per-simulation table (not ids, not the ``cosmo_*`` columns)."""
    return [c for c in rows.columns if c not in ID_COLUMNS and not c.startswith("cosmo_")]


class AnalysisSummaries(AnalysisStage):
    """Summaries over each analysed split, labelled with the scoring protocol.

    For pixel metrics and power-spectrum metrics: the table of all per-simulation rows and the
    mean ± sample standard deviation (ddof = 1) per metric and epoch, as CSV (with a
    ``protocol`` column), Markdown and LaTeX (a protocol caption; best epoch in bold). For each
    epoch: the binned D_l averaged over simulations (theory, truth, prediction, residual, with
    their standard deviations and the Knox cosmic-variance standard deviation of the binned
    theory for the effective f_sky of the apodised mask) and the last multipole of the spectrum
    metrics (``ell_max_metrics``).

    Config: ``model.analysis.{protocol, lmax, bin_width, beam_floor}`` and the method entry.
    Reads ``analysis_pixel_metrics``, ``analysis_ps_metrics``, ``analysis_spectra``,
    ``analysis_mask_apod``; writes (per split) ``analysis_pixel_table``,
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
    analysis_keys = ("common_beam", "truth_beam", "lmax", "bin_width", "beam_floor")

    def run(self) -> None:
        """Write the summaries of every analysed split."""
        sims = defaultdict(list)
        for split, sim in self.units():
            sims[split].append(sim)
        fsky = spectra.effective_fsky(self.read_mask("analysis_mask_apod"))
        caption = tables.protocol_caption(self.protocol, self.method["name"], self.metric_lmax())
        for split, split_sims in sims.items():
            for kind in ("pixel", "ps"):
                rows = pd.concat(
                    [self.read(f"analysis_{kind}_metrics", split=split, sim=s) for s in split_sims],
                    ignore_index=True,
                )
                rows["epoch"] = rows["epoch"].astype(str)
                summary = tables.summarise(rows, metric_columns(rows), by="epoch")
                summary.insert(1, "protocol", self.protocol)
                rows.insert(2, "protocol", self.protocol)
                self.write(f"analysis_{kind}_table", rows, split=split)
                self.write(f"analysis_{kind}_summary", summary, split=split)
                self.write(
                    f"analysis_{kind}_summary_md",
                    tables.to_markdown(summary, "epoch", caption=caption),
                    split=split,
                )
                self.write(
                    f"analysis_{kind}_summary_tex",
                    tables.to_latex(summary, "epoch", caption=caption),
                    split=split,
                )
            for epoch in self.epochs:
                self.write(
                    "analysis_ps_mean",
                    self._mean_spectra(split, split_sims, epoch, fsky),
                    split=split,
                    epoch=epoch,
                )

    def _mean_spectra(self, split: str, sims: list[int], epoch, fsky: float) -> pd.DataFrame:
        """Binned D_l averaged over ``sims`` with their sample standard deviations."""
        lmax = int(self.option("lmax"))
        edges = spectra.bin_edges(spectra.LMIN, lmax, int(self.option("bin_width")))
        columns = ("theory", "truth", "prediction", "residual")
        binned = {c: [] for c in columns}
        theory = []
        for sim in sims:
            table = self.read("analysis_spectra", split=split, sim=sim, epoch=epoch)
            theory.append(table["theory"].to_numpy())
            for c in columns:
                binned[c].append(spectra.bin_spectrum(table[c].to_numpy(), edges))
        out = {"ell_min": edges[:-1], "ell_max": edges[1:] - 1, "ell": spectra.bin_centres(edges)}
        for c in columns:
            values = np.array(binned[c])
            out[c] = values.mean(axis=0)
            out[f"{c}_std"] = values.std(axis=0, ddof=1) if len(sims) > 1 else np.nan
        out["theory_sigma"] = spectra.knox_sigma(np.mean(theory, axis=0), edges, fsky)
        out["ell_max_metrics"] = self.metric_lmax()
        out["protocol"] = self.protocol
        return pd.DataFrame(out)
