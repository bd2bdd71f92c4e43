"""Stage ``analysis_power_spectra``: MASTER D_l of truth, prediction and residual; metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cmbml.analysis import spectra
from cmbml.analysis.stages.base import AnalysisStage
from cmbml.analysis.tables import epoch_label

__all__ = ["PS_METRICS", "AnalysisPowerSpectra"]

PS_METRICS: tuple[str, ...] = (
    *(f"theory_{m}" for m in spectra.SPECTRUM_METRICS),
    *(f"real_{m}" for m in spectra.SPECTRUM_METRICS),
    "residual_dl",
)
"""Columns of ``analysis_ps_metrics`` that are metrics (besides ``sim``, ``epoch``, ``ell_max``
and the simulation's cosmology, ``cosmo_<CAMB name>``)."""


class AnalysisPowerSpectra(AnalysisStage):
    """Power spectra of the post-processed maps and their metrics over l bins.

    MASTER spectra (:func:`cmbml.analysis.spectra.masked_spectra`) of truth, prediction and
    residual (prediction - truth) under the apodised analysis mask, each map's transfer function
    under the protocol divided out, as D_l for l = 2 .. ``model.analysis.lmax``. The binned
    (``model.analysis.bin_width``) prediction D_l is compared with the binned theory D_l^TT of
    the simulation (``theory_*`` metrics) and with the binned D_l of the truth map, the
    realisation (``real_*`` metrics), on l = 2 .. ``ell_max``: the last multipole where the
    transfer functions keep ``b_l² >= model.analysis.beam_floor``. ``residual_dl`` is the mean
    over those multipoles of the residual map's D_l (uK_CMB²).

    The theory is cmbml's ``cmb_spectrum`` or, in a published CMB-ML dataset, ``cmb_ps_fid``
    (CAMB text); the cosmology (``cosmo_params`` or ``wmap_params``) is copied into the rows.

    Config: ``model.analysis.{protocol, common_beam, truth_beam, lmax, bin_width, beam_floor}``
    and the method entry. Reads ``analysis_truth_pp``, ``analysis_prediction_pp``,
    ``analysis_mask_apod``, ``analysis_coupling``, ``cmb_spectrum`` or ``cmb_ps_fid``,
    ``cosmo_params`` or ``wmap_params`` (split, sim); writes ``analysis_spectra`` (split, sim,
    epoch: columns ``ell``, ``theory``, ``truth``, ``prediction``, ``residual`` in uK_CMB²) and
    ``analysis_ps_metrics`` (split, sim: one row per epoch).
    """

    name = "analysis_power_spectra"
    fixed_inputs = (
        "analysis_truth_pp",
        "analysis_prediction_pp",
        "analysis_mask_apod",
        "analysis_coupling",
        "cmb_spectrum",
        "cmb_ps_fid",
        "cosmo_params",
        "wmap_params",
    )
    outputs = ("analysis_spectra", "analysis_ps_metrics")
    analysis_keys = ("common_beam", "truth_beam", "lmax", "bin_width", "beam_floor")

    def process_sim(self, split: str, sim: int) -> None:
        """Write the spectra of every epoch and the metrics table of (split, sim)."""
        lmax = int(self.option("lmax"))
        truth_res, pred_res = self.resolutions()
        weight = self.read_mask("analysis_mask_apod")
        coupling = self.read_coupling()
        theory = self.read_theory(split, sim, lmax)
        cosmology = {f"cosmo_{k}": v for k, v in self.read_cosmology(split, sim).items()}
        truth = self.read_field("analysis_truth_pp", split=split, sim=sim)
        ell_max = self.metric_lmax()
        edges = spectra.bin_edges(spectra.LMIN, ell_max, int(self.option("bin_width")))
        used = slice(0, ell_max - spectra.LMIN + 1)
        theory_b = spectra.bin_spectrum(theory[used], edges)
        rows = []
        for epoch in self.epochs:
            pred = self.read_field("analysis_prediction_pp", split=split, sim=sim, epoch=epoch)
            spec = spectra.masked_spectra(
                truth,
                pred,
                weight,
                lmax=lmax,
                truth_resolution=truth_res,
                prediction_resolution=pred_res,
                coupling=coupling,
            )
            table = pd.DataFrame(
                {
                    "ell": spec["ell"],
                    "theory": theory,
                    **{k: spec[k] for k in ("truth", "prediction", "residual")},
                }
            )
            self.write("analysis_spectra", table, split=split, sim=sim, epoch=epoch)
            pred_b = spectra.bin_spectrum(spec["prediction"][used], edges)
            truth_b = spectra.bin_spectrum(spec["truth"][used], edges)
            rows.append(
                {
                    "sim": sim,
                    "epoch": epoch_label(epoch),
                    "ell_max": ell_max,
                    **spectra.spectrum_metrics(pred_b, theory_b, "theory"),
                    **spectra.spectrum_metrics(pred_b, truth_b, "real"),
                    "residual_dl": float(np.mean(spec["residual"][used])),
                    **cosmology,
                }
            )
        self.write("analysis_ps_metrics", pd.DataFrame(rows), split=split, sim=sim)
