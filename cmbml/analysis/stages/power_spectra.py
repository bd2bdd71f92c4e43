"""Stage ``analysis_power_spectra``: masked D_l of truth, prediction and residual; metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cmbml.analysis import spectra
from cmbml.analysis.stages.base import AnalysisStage, resolution
from cmbml.analysis.tables import epoch_label

__all__ = ["PS_METRICS", "AnalysisPowerSpectra"]

PS_METRICS: tuple[str, ...] = (
    *(f"theory_{m}" for m in spectra.SPECTRUM_METRICS),
    *(f"real_{m}" for m in spectra.SPECTRUM_METRICS),
    "residual_dl",
)
"""Columns of ``analysis_ps_metrics`` besides ``sim`` and ``epoch``."""


class AnalysisPowerSpectra(AnalysisStage):
    """Power spectra of the post-processed maps and their metrics over l bins.

    The pseudo-C_l of truth, prediction and residual (prediction - truth) under the apodised mask
    (``mask_apod`` times the binary ``mask``), normalised by mean(mask²), with the common beam
    and pixel window deconvolved, as D_l for l = 2 .. ``model.analysis.lmax``. The binned
    (``model.analysis.bin_width``) prediction D_l is compared with the binned theory D_l^TT of
    the simulation (``theory_*`` metrics) and with the binned D_l of the truth map, the
    realisation (``real_*`` metrics); see :data:`cmbml.analysis.spectra.SPECTRUM_METRICS`.
    ``residual_dl`` is the mean over l of the residual map's D_l (uK_CMB²).

    Config: ``model.analysis.{common_beam, lmax, bin_width, niter}`` and the method entry. Reads
    ``analysis_truth_pp``, ``analysis_prediction_pp``, ``mask``, ``mask_apod``,
    ``cmb_spectrum`` (split, sim); writes ``analysis_spectra`` (split, sim, epoch: columns
    ``ell``, ``theory``, ``truth``, ``prediction``, ``residual`` in uK_CMB²) and
    ``analysis_ps_metrics`` (split, sim: one row per epoch).
    """

    name = "analysis_power_spectra"
    fixed_inputs = (
        "analysis_truth_pp",
        "analysis_prediction_pp",
        "mask",
        "mask_apod",
        "cmb_spectrum",
    )
    outputs = ("analysis_spectra", "analysis_ps_metrics")
    analysis_keys = ("common_beam", "lmax", "bin_width", "niter")

    def process_sim(self, split: str, sim: int) -> None:
        """Write the spectra of every epoch and the metrics table of (split, sim)."""
        lmax = int(self.option("lmax"))
        common = resolution(self.option("common_beam"), "model.analysis.common_beam")
        weight = self.read_mask("mask_apod") * (self.read_mask("mask") > 0)
        source = str(self.path("cmb_spectrum", split=split, sim=sim))
        theory = spectra.theory_dl(self.read("cmb_spectrum", split=split, sim=sim), lmax, source)
        truth = self.read_field("analysis_truth_pp", split=split, sim=sim)
        edges = spectra.bin_edges(spectra.LMIN, lmax, int(self.option("bin_width")))
        theory_b = spectra.bin_spectrum(theory, edges)
        rows = []
        for epoch in self.epochs:
            pred = self.read_field("analysis_prediction_pp", split=split, sim=sim, epoch=epoch)
            spec = spectra.masked_spectra(
                truth,
                pred,
                weight,
                lmax=lmax,
                fwhm_arcmin=common.fwhm_arcmin,
                pixwin=common.pixwin,
                niter=int(self.option("niter")),
            )
            table = pd.DataFrame(
                {
                    "ell": spec["ell"],
                    "theory": theory,
                    **{k: spec[k] for k in ("truth", "prediction", "residual")},
                }
            )
            self.write("analysis_spectra", table, split=split, sim=sim, epoch=epoch)
            pred_b = spectra.bin_spectrum(spec["prediction"], edges)
            truth_b = spectra.bin_spectrum(spec["truth"], edges)
            rows.append(
                {
                    "sim": sim,
                    "epoch": epoch_label(epoch),
                    **spectra.spectrum_metrics(pred_b, theory_b, "theory"),
                    **spectra.spectrum_metrics(pred_b, truth_b, "real"),
                    "residual_dl": float(np.mean(spec["residual"])),
                }
            )
        self.write("analysis_ps_metrics", pd.DataFrame(rows), split=split, sim=sim)
