"""Stage ``analysis_reference``: a method's predictions on the real sky against reference maps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cmbml import sphere
from cmbml.analysis.postprocess import Resolution, postprocess_map
from cmbml.analysis.reference import pseudo_cross_spectra, read_reference_map, reference_scores
from cmbml.analysis.stages.base import AnalysisStage, resolution
from cmbml.analysis.tables import epoch_label
from cmbml.core.splits import split_kinds

__all__ = ["AnalysisReference"]

HINT = "python get_data/get_planck_assets.py --only smica nilc commander"


class AnalysisReference(AnalysisStage):
    """Compare a method's intensity predictions on observation-only splits (real maps, no
    truth) with reference CMB maps: Planck's SMICA, NILC and Commander PR3 maps
    (``model.analysis.references``: ``dir`` and, per reference, ``file`` and ``fwhm_arcmin``).

    Each reference is brought to ``scenario.nside`` at its own beam
    (:func:`cmbml.sphere.resample`), then reference and prediction are post-processed alike
    under the protocol (the common beam, ``l <= lmax_compare``, monopole and dipole removed on
    the analysis mask). Per reference and epoch: ``residual_rms``, ``correlation`` and
    ``reference_rms`` on the kept pixels (:func:`cmbml.analysis.reference.reference_scores`),
    and binned pseudo-spectra prediction x reference, reference x reference and prediction x
    prediction on the apodised mask, up to ``model.analysis.lmax``. Reference comparisons, not
    scores against a truth.

    Config: ``model.analysis.{protocol, common_beam, lmax_compare, niter, lmax, bin_width,
    references}`` and the method entry. Reads ``analysis_mask``, ``analysis_mask_apod``, the
    method's prediction and the reference files (assets); writes
    ``analysis_reference_metrics`` and ``analysis_reference_spectra`` per (split, sim).
    """

    name = "analysis_reference"
    observations = True
    fixed_inputs = ("analysis_mask", "analysis_mask_apod")
    reads_prediction = True
    analysis_keys = ("common_beam", "lmax_compare", "niter", "lmax", "bin_width", "references")
    outputs = ("analysis_reference_metrics", "analysis_reference_spectra")

    def units(self):
        """Only the simulations of observation splits."""
        kinds = split_kinds(self.cfg)
        return ((split, sim) for split, sim in super().units() if kinds[split] == "observation")

    def process_sim(self, split: str, sim: int) -> None:
        """Write the reference metrics and spectra of every epoch's prediction of (split, sim)."""
        mask = self.read_mask("analysis_mask")
        weight = self.read_mask("analysis_mask_apod")
        options = dict(
            mask=mask,
            common_resolution=resolution(self.option("common_beam"), "model.analysis.common_beam"),
            protocol=self.protocol,
            lmax_compare=int(self.option("lmax_compare")),
            niter=int(self.option("niter")),
        )
        references = self._references(options)
        pred_res = self.prediction_resolution()
        lmax, width = int(self.option("lmax")), int(self.option("bin_width"))
        metrics, spectra = [], []
        for epoch in self.epochs:
            pred, _ = self.read_maps(self.method["prediction"], split=split, sim=sim, epoch=epoch)
            pred_pp = postprocess_map(pred[0], resolution=pred_res, **options)
            label = {"epoch": epoch_label(epoch)}
            for name, ref in references.items():
                scores = reference_scores(pred_pp, ref, mask)
                metrics.append({"reference": name, **label, **scores})
                table = pseudo_cross_spectra(pred_pp, ref, weight, lmax, width)
                spectra.append(table.assign(reference=name, **label))
        self.write("analysis_reference_metrics", pd.DataFrame(metrics), split=split, sim=sim)
        self.write(
            "analysis_reference_spectra",
            pd.concat(spectra, ignore_index=True),
            split=split,
            sim=sim,
        )

    def _references(self, options: dict) -> dict:
        """Each reference map at ``scenario.nside``, post-processed like the predictions."""
        refs = self.option("references")
        nside = int(self.cfg.scenario.nside)
        out = {}
        for name, entry in refs["maps"].items():
            path = self.asset(Path(refs["dir"]) / entry["file"], hint=HINT)
            fwhm = float(entry["fwhm_arcmin"])
            ref = sphere.resample(read_reference_map(path)[None], fwhm, fwhm, nside)[0]
            out[name] = postprocess_map(ref, resolution=Resolution(fwhm, True), **options)
        return out
