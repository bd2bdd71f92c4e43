"""Stage ``analysis_figures``: maps, power spectra and metric distributions (PNG and PDF)."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from cmbml.analysis import figures, spectra
from cmbml.analysis.stages.base import SPECTRUM_KEYS, AnalysisStage
from cmbml.analysis.stages.summaries import BLOCKS, by_spectrum, metric_columns
from cmbml.analysis.tables import block_rank, epoch_label

__all__ = ["AnalysisFigures"]


class AnalysisFigures(AnalysisStage):
    """Figures of the analysis of one method.

    For the first ``model.analysis.n_show_cap`` simulations of each analysed split and every
    epoch: truth / prediction / difference maps (Planck colour map, masked pixels grey) and the
    power spectrum (log axis) with the theory's cosmic-variance band and a residual panel, the
    multipoles outside the scored range shaded; when Q, U are scored, the same for Q and U (one
    row each) and for EE, BB and TE side by side (TE on a linear axis). For each split:
    histograms of the pixel and power-spectrum metrics over simulations (one panel per metric,
    and per field or spectrum when polarised). Titles name the scoring protocol.

    Config: ``model.analysis.{protocol, n_show_cap, bin_width, lmax, beam_floor,
    spectrum_lmin}`` and the method entry. Reads ``analysis_truth_pp``,
    ``analysis_prediction_pp``, ``analysis_spectra``, ``analysis_mask``, ``analysis_mask_apod``,
    ``analysis_pixel_table``, ``analysis_ps_table``; writes ``analysis_fig_maps``,
    ``analysis_fig_ps``, ``analysis_fig_maps_pol`` and ``analysis_fig_ps_pol`` (split, sim,
    epoch; the last two when polarised), ``analysis_fig_pixel_dist`` and
    ``analysis_fig_ps_dist`` (split). The catalog's figure handler writes PNG and PDF.
    """

    name = "analysis_figures"
    per_sim = False
    covers_units = True
    fixed_inputs = (
        "analysis_truth_pp",
        "analysis_prediction_pp",
        "analysis_spectra",
        "analysis_mask",
        "analysis_mask_apod",
        "analysis_pixel_table",
        "analysis_ps_table",
    )
    outputs = (
        "analysis_fig_maps",
        "analysis_fig_ps",
        "analysis_fig_maps_pol",
        "analysis_fig_ps_pol",
        "analysis_fig_pixel_dist",
        "analysis_fig_ps_dist",
    )
    analysis_keys = ("n_show_cap", *SPECTRUM_KEYS)

    def run(self) -> None:
        """Draw and write every figure."""
        sims = defaultdict(list)
        for split, sim in self.units():
            sims[split].append(sim)
        mask = self.read_mask("analysis_mask")
        fsky = spectra.effective_fsky(self.read_mask("analysis_mask_apod"))
        name = f"{self.method['name']} ({self.protocol} protocol)"
        for split, split_sims in sims.items():
            shown = split_sims[: int(self.option("n_show_cap"))]
            for scoring, target in self.scorings():
                label = name if target is None else f"{name}, {target.name}"
                self._maps(split, shown, scoring, mask, label)
                self._distribution("pixel", split, scoring, label)
            for sim in shown:
                for epoch in self.epochs:
                    where = dict(split=split, sim=sim, epoch=epoch)
                    title = f"{name}, {split} sim {sim}, epoch {epoch_label(epoch)}"
                    panels = self._spectrum_panels(where, fsky)
                    tt = panels.pop("TT")
                    fig = figures.plot_power_spectrum(
                        tt["ell"], tt["theory"], tt["ell_binned"], tt["binned"], tt["sigma"],
                        ell_max=tt["ell_max"], ell_min=tt["ell_min"], title=title,
                    )  # fmt: skip
                    self.write("analysis_fig_ps", fig, **where)
                    if panels:
                        fig = figures.plot_power_spectra(panels, title=title)
                        self.write("analysis_fig_ps_pol", fig, **where)
            self._distribution("ps", split, self.protocol, name)

    def _maps(self, split: str, sims: list[int], scoring: str, mask, name: str) -> None:
        """Truth / prediction / difference maps (and Q, U) of one scoring."""
        for sim in sims:
            truth, _ = self.read_maps("analysis_truth_pp", split=split, sim=sim, scoring=scoring)
            for epoch in self.epochs:
                where = dict(split=split, sim=sim, epoch=epoch, scoring=scoring)
                title = f"{name}, {split} sim {sim}, epoch {epoch_label(epoch)}"
                pred, _ = self.read_maps("analysis_prediction_pp", **where)
                maps = figures.plot_maps(truth[0], pred[0], mask, title=title)
                self.write("analysis_fig_maps", maps, **where)
                if min(len(truth), len(pred)) == 3:
                    pol = figures.plot_pol_maps(truth[1:3], pred[1:3], mask, title=title)
                    self.write("analysis_fig_maps_pol", pol, **where)

    def _distribution(self, kind: str, split: str, scoring: str, name: str) -> None:
        """Histograms of one kind of per-simulation metrics over the split."""
        block = BLOCKS[kind]
        rows = self.read(f"analysis_{kind}_table", split=split, scoring=scoring)
        ncol = len(metric_columns(rows)) if block in rows else None
        rows, metrics = _wide(rows, block)
        fig = figures.plot_metric_distributions(rows, metrics, title=f"{name}, {split}", ncol=ncol)
        self.write(f"analysis_fig_{kind}_dist", fig, split=split, scoring=scoring)

    def _spectrum_panels(self, where: dict, fsky: float) -> dict[str, dict]:
        """Per spectrum of the simulation's spectra table, the arguments of its figure."""
        parts = by_spectrum(self.read("analysis_spectra", **where))
        panels = {}
        for key, table in parts.items():
            ell = table["ell"].to_numpy()
            theory = table["theory"].to_numpy()
            edges = spectra.bin_edges(int(ell[0]), int(ell[-1]), int(self.option("bin_width")))
            binned = {
                c: spectra.bin_spectrum(table[c].to_numpy(), edges, lmin=int(ell[0]))
                for c in ("theory", "truth", "prediction", "residual")
            }
            auto = None
            if key == "TE":
                auto = tuple(parts[k]["theory"].to_numpy() for k in ("TT", "EE"))
            sigma = spectra.knox_sigma(theory, edges, fsky, lmin=int(ell[0]), auto=auto)
            panels[key] = {
                "ell": ell,
                "theory": theory,
                "ell_binned": spectra.bin_centres(edges),
                "binned": binned,
                "sigma": sigma,
                **dict(zip(("ell_min", "ell_max"), self.metric_range(key), strict=True)),
            }
        return panels


def _wide(rows: pd.DataFrame, block: str) -> tuple[pd.DataFrame, list[str]]:
    """Per-simulation metric rows with one column per metric, or, with a ``block`` column
    (polarised), per metric and block value (``"mae Q"``), one row per (sim, epoch)."""
    metrics = metric_columns(rows)
    if block not in rows:
        return rows, metrics
    values = sorted(dict.fromkeys(rows[block].astype(str)), key=block_rank)
    wide = rows.pivot_table(index=["sim", "epoch"], columns=block, values=metrics, sort=False)
    wide.columns = [f"{m} {v}" for m, v in wide.columns]
    columns = [f"{m} {v}" for v in values for m in metrics if f"{m} {v}" in wide.columns]
    return wide.reset_index(), columns
