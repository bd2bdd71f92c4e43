"""Stage ``analysis_power_spectra``: MASTER D_l of truth, prediction and residual; metrics."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from cmbml.analysis import cmb_ml, spectra
from cmbml.analysis.fields import scored_fields, select_fields, spectra_of
from cmbml.analysis.stages.base import CMB_ML_PROTOCOLS, SPECTRUM_KEYS, AnalysisStage
from cmbml.analysis.tables import epoch_label

__all__ = ["CMB_ML_PS_METRICS", "PS_METRICS", "AnalysisPowerSpectra", "ps_metrics"]

PS_METRICS: tuple[str, ...] = (
    *(f"theory_{m}" for m in spectra.SPECTRUM_METRICS),
    *(f"real_{m}" for m in spectra.SPECTRUM_METRICS),
    "residual_dl",
)
"""Columns of ``analysis_ps_metrics`` that are metrics (besides ``sim``, ``epoch``, the multipole
range ``ell_max`` (and ``spectrum``, ``ell_min`` when polarised) and the simulation's cosmology,
``cosmo_<CAMB name>``)."""
CMB_ML_PS_METRICS: tuple[str, ...] = tuple(
    f"{baseline}_{m}" for baseline in ("theory", "real") for m in cmb_ml.PS_STATISTICS
)
"""The metric columns under CMB-ML's protocols: its six statistics against the theory's and the
truth's D_l."""


def ps_metrics(protocol: str) -> tuple[str, ...]:
    """The spectrum metric columns of a protocol (CMB-ML's statistics under its protocols)."""
    return CMB_ML_PS_METRICS if protocol in CMB_ML_PROTOCOLS else PS_METRICS


class AnalysisPowerSpectra(AnalysisStage):
    """Power spectra of the post-processed maps and their metrics over l bins.

    MASTER spectra (:func:`cmbml.analysis.spectra.masked_field_spectra`) of truth, prediction and
    residual (prediction - truth) under the apodised analysis mask, each map's transfer functions
    under the protocol divided out, as D_l for l = 2 .. ``model.analysis.lmax``: TT, and, when
    both maps have Q, U, EE, BB and TE (E and B decoupled jointly with the spin-2 coupling
    matrices). For each spectrum the binned (``model.analysis.bin_width``) prediction D_l is
    compared with the binned theory D_l of the simulation (``theory_*`` metrics) and with the
    binned D_l of the truth map, the realisation (``real_*`` metrics), on the multipoles of
    :meth:`AnalysisStage.metric_range`: from ``model.analysis.spectrum_lmin`` to the last where
    the transfer functions keep ``b_l² >= model.analysis.beam_floor``. ``residual_dl`` is the
    mean over those multipoles of the residual map's D_l (uK_CMB²).

    Under CMB-ML's protocols (``published``, ``iccv2025``) the spectra are CMB-ML's instead
    (:mod:`cmbml.analysis.cmb_ml`): TT only, of the stored (not post-processed) truth, full sky,
    and predictions, under ``analysis_mask_apod`` (the TMASK with NaMaster's C1 over
    ``model.analysis.cmb_ml.apodization_arcmin``), each map's transfer function squared divided
    out, unbinned to ``model.analysis.cmb_ml.lmax``; the metrics are CMB-ML's six
    (:data:`CMB_ML_PS_METRICS`) on D_l from l = 0. They do not depend on the target beam: one set
    per method under ``iccv2025``.

    The theory is cmbml's ``cmb_spectrum`` or, in a published CMB-ML dataset, ``cmb_ps_fid``
    (CAMB text); the cosmology (``cosmo_params`` or ``wmap_params``) is copied into the rows.

    Config: ``model.analysis.{protocol, common_beam, truth_beam, lmax, bin_width, beam_floor,
    spectrum_lmin}`` and the method entry. Reads ``analysis_truth_pp``,
    ``analysis_prediction_pp``, ``analysis_mask_apod``, ``analysis_coupling``, ``cmb_spectrum`` or
    ``cmb_ps_fid``, ``cosmo_params`` or ``wmap_params`` (split, sim); writes ``analysis_spectra``
    (split, sim, epoch: columns ``ell``, ``theory``, ``truth``, ``prediction``, ``residual`` in
    uK_CMB², with a first column ``spectrum`` when polarised) and ``analysis_ps_metrics`` (split,
    sim: one row per epoch, or per epoch and spectrum when polarised).
    """

    name = "analysis_power_spectra"
    reads_prediction = True
    fixed_inputs = (
        "cmb_map",
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
    analysis_keys = SPECTRUM_KEYS

    def process_sim(self, split: str, sim: int) -> None:
        """Write the spectra of every epoch and the metrics table of (split, sim)."""
        if self.cmb_ml:
            self._cmb_ml_spectra(split, sim)
            return
        lmax = int(self.option("lmax"))
        truth_res, pred_res = self.resolutions()
        weight = self.read_mask("analysis_mask_apod")
        table, source = self.read_theory_table(split, sim)
        cosmology = {f"cosmo_{k}": v for k, v in self.read_cosmology(split, sim).items()}
        truth, truth_names = self.read_maps("analysis_truth_pp", split=split, sim=sim)
        theory = functools.cache(lambda key: spectra.theory_dl(table, lmax, source, spectrum=key))
        rows = []
        for epoch in self.epochs:
            where = dict(split=split, sim=sim, epoch=epoch)
            pred, pred_names = self.read_maps("analysis_prediction_pp", **where)
            fields = scored_fields(truth_names, pred_names)
            keys = spectra_of(fields)
            polarised = len(keys) > 1
            spec = spectra.masked_field_spectra(
                select_fields(truth, fields),
                select_fields(pred, fields),
                weight,
                lmax=lmax,
                truth_resolution=truth_res,
                prediction_resolution=pred_res,
                coupling=self.read_coupling(spin2=polarised),
            )
            parts = []
            for key in keys:
                part = pd.DataFrame({"ell": spec["ell"], "theory": theory(key), **spec[key]})
                parts.append(part)
                row = {"sim": sim, "epoch": epoch_label(epoch)}
                if polarised:
                    row["spectrum"] = key
                rows.append({**row, **self._metrics(key, part, polarised), **cosmology})
                if polarised:
                    part.insert(0, "spectrum", key)
            self.write("analysis_spectra", pd.concat(parts, ignore_index=True), **where)
        self.write("analysis_ps_metrics", pd.DataFrame(rows), split=split, sim=sim)

    def _cmb_ml_spectra(self, split: str, sim: int) -> None:
        """CMB-ML's TT spectra and statistics (:func:`cmbml.analysis.cmb_ml.cmb_ml_spectra`) of
        the stored truth and predictions under the C1-apodised TMASK."""
        lmax, niter = int(self.option("cmb_ml.lmax")), int(self.option("cmb_ml.niter"))
        truth_res, pred_res = self.resolutions()
        weight = self.read_mask("analysis_mask_apod")
        table, source = self.read_theory_table(split, sim)
        theory = np.concatenate([[0.0, 0.0], spectra.theory_dl(table, lmax, source)])
        cosmology = {f"cosmo_{k}": v for k, v in self.read_cosmology(split, sim).items()}
        truth = self.read_maps("cmb_map", split=split, sim=sim)[0][0]
        rows = []
        for epoch in self.epochs:
            where = dict(split=split, sim=sim, epoch=epoch)
            prediction = self.read_maps(self.method["prediction"], **where)[0][0]
            spec = cmb_ml.cmb_ml_spectra(
                truth,
                prediction,
                weight,
                lmax=lmax,
                truth_resolution=truth_res,
                prediction_resolution=pred_res,
                niter=niter,
            )
            rows.append(
                {
                    "sim": sim,
                    "epoch": epoch_label(epoch),
                    **cmb_ml.spectrum_statistics(spec["prediction"], theory, "theory"),
                    **cmb_ml.spectrum_statistics(spec["prediction"], spec["truth"], "real"),
                    **cosmology,
                }
            )
            shown = {k: v[spectra.LMIN :] for k, v in spec.items()}
            part = pd.DataFrame({"ell": shown.pop("ell"), "theory": theory[spectra.LMIN :]})
            self.write("analysis_spectra", part.assign(**shown), **where)
        self.write("analysis_ps_metrics", pd.DataFrame(rows), split=split, sim=sim)

    def _metrics(self, key: str, part: pd.DataFrame, polarised: bool) -> dict:
        """The spectrum metrics of one spectrum's table (``ell`` from 2) over its range."""
        ell_min, ell_max = self.metric_range(key)
        edges = spectra.bin_edges(ell_min, ell_max, int(self.option("bin_width")))
        used = slice(ell_min - spectra.LMIN, ell_max - spectra.LMIN + 1)
        binned = {
            c: spectra.bin_spectrum(part[c].to_numpy()[used], edges, lmin=ell_min)
            for c in ("theory", "truth", "prediction")
        }
        out = {"ell_min": ell_min} if polarised else {}
        return {
            **out,
            "ell_max": ell_max,
            **spectra.spectrum_metrics(binned["prediction"], binned["theory"], "theory"),
            **spectra.spectrum_metrics(binned["prediction"], binned["truth"], "real"),
            "residual_dl": float(np.mean(part["residual"].to_numpy()[used])),
        }
