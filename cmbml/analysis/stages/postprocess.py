"""Stage ``analysis_postprocess``: truth and prediction at a common resolution, masked."""

from __future__ import annotations

from cmbml.analysis.postprocess import postprocess_pair
from cmbml.analysis.stages.base import AnalysisStage, resolution

__all__ = ["AnalysisPostProcess"]


class AnalysisPostProcess(AnalysisStage):
    """Common post-processing of one simulation's truth and the method's predictions.

    Both maps are brought to ``model.analysis.common_beam`` (the truth from
    ``model.analysis.truth_beam``, the prediction from the method's ``beam``), the monopole and
    dipole fitted on the unmasked pixels are removed and masked pixels are set to zero.

    Config: ``model.analysis.{field, common_beam, truth_beam, lmax_rebeam, niter}`` and the
    method entry. Reads ``cmb_map`` (split, sim), ``mask`` and the method's prediction (split,
    sim[, epoch]); writes ``analysis_truth_pp`` (split, sim) and ``analysis_prediction_pp``
    (split, sim, epoch), in uK_CMB.
    """

    name = "analysis_postprocess"
    fixed_inputs = ("cmb_map", "mask")
    reads_prediction = True
    outputs = ("analysis_truth_pp", "analysis_prediction_pp")
    analysis_keys = ("field", "common_beam", "truth_beam", "lmax_rebeam", "niter")

    def process_sim(self, split: str, sim: int) -> None:
        """Post-process the truth and every epoch's prediction of (split, sim)."""
        truth = self.read_field("cmb_map", split=split, sim=sim)
        mask = self.read_mask("mask")
        common = resolution(self.option("common_beam"), "model.analysis.common_beam")
        truth_res = resolution(self.option("truth_beam"), "model.analysis.truth_beam")
        pred_res = resolution(self.method["beam"], f"{self.method_key}.beam")
        lmax = self.option("lmax_rebeam")
        for epoch in self.epochs:
            prediction = self.read_field(
                self.method["prediction"], split=split, sim=sim, epoch=epoch
            )
            truth_pp, pred_pp = postprocess_pair(
                truth,
                prediction,
                mask,
                prediction_resolution=pred_res,
                common_resolution=common,
                truth_resolution=truth_res,
                lmax=None if lmax is None else int(lmax),
                niter=int(self.option("niter")),
            )
            self.write("analysis_prediction_pp", pred_pp, split=split, sim=sim, epoch=epoch)
        self.write("analysis_truth_pp", truth_pp, split=split, sim=sim)
