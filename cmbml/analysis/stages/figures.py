"""Stage ``analysis_figures``: maps, power spectra and metric distributions (PNG and PDF)."""

from __future__ import annotations

from collections import defaultdict

from cmbml.analysis import figures, spectra
from cmbml.analysis.stages.base import AnalysisStage
from cmbml.analysis.stages.summaries import metric_columns
from cmbml.analysis.tables import epoch_label

__all__ = ["AnalysisFigures"]


class AnalysisFigures(AnalysisStage):
    """Figures of the analysis of one method.

    For the first ``model.analysis.n_show_cap`` simulations of each analysed split and every
    epoch: truth / prediction / difference maps (Planck colour map, masked pixels grey) and the
    power spectrum (log axis) with the theory's cosmic-variance band and a fractional residual
    panel, the multipoles beyond the beam floor shaded. For each split: histograms of the pixel
    and power-spectrum metrics over simulations. Titles name the scoring protocol.

    Config: ``model.analysis.{protocol, n_show_cap, bin_width, lmax, beam_floor}`` and the
    method entry. Reads ``analysis_truth_pp``, ``analysis_prediction_pp``, ``analysis_spectra``,
    ``analysis_mask``, ``analysis_mask_apod``, ``analysis_pixel_table``, ``analysis_ps_table``;
    writes ``analysis_fig_maps``
    and ``analysis_fig_ps`` (split, sim, epoch), ``analysis_fig_pixel_dist`` and
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
        "analysis_fig_pixel_dist",
        "analysis_fig_ps_dist",
    )
    analysis_keys = (
        "n_show_cap",
        "bin_width",
        "lmax",
        "beam_floor",
        "common_beam",
        "truth_beam",
    )

    def run(self) -> None:
        """Draw and write every figure."""
        sims = defaultdict(list)
        for split, sim in self.units():
            sims[split].append(sim)
        mask = self.read_mask("analysis_mask")
        fsky = spectra.effective_fsky(self.read_mask("analysis_mask_apod"))
        name = f"{self.method['name']} ({self.protocol} protocol)"
        for split, split_sims in sims.items():
            for sim in split_sims[: int(self.option("n_show_cap"))]:
                truth = self.read_field("analysis_truth_pp", split=split, sim=sim)
                for epoch in self.epochs:
                    where = dict(split=split, sim=sim, epoch=epoch)
                    title = f"{name}, {split} sim {sim}, epoch {epoch_label(epoch)}"
                    pred = self.read_field("analysis_prediction_pp", **where)
                    self.write(
                        "analysis_fig_maps",
                        figures.plot_maps(truth, pred, mask, title=title),
                        **where,
                    )
                    self.write(
                        "analysis_fig_ps", self._spectrum_figure(where, fsky, title), **where
                    )
            for kind in ("pixel", "ps"):
                rows = self.read(f"analysis_{kind}_table", split=split)
                metrics = metric_columns(rows)
                fig = figures.plot_metric_distributions(rows, metrics, title=f"{name}, {split}")
                self.write(f"analysis_fig_{kind}_dist", fig, split=split)

    def _spectrum_figure(self, where: dict, fsky: float, title: str):
        table = self.read("analysis_spectra", **where)
        ell = table["ell"].to_numpy()
        edges = spectra.bin_edges(int(ell[0]), int(ell[-1]), int(self.option("bin_width")))
        binned = {
            c: spectra.bin_spectrum(table[c].to_numpy(), edges, lmin=int(ell[0]))
            for c in ("theory", "truth", "prediction", "residual")
        }
        sigma = spectra.knox_sigma(table["theory"].to_numpy(), edges, fsky, lmin=int(ell[0]))
        return figures.plot_power_spectrum(
            ell,
            table["theory"].to_numpy(),
            spectra.bin_centres(edges),
            binned,
            sigma,
            ell_max=self.metric_lmax(),
            title=title,
        )
