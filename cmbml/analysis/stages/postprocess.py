"""Stage ``analysis_postprocess``: truth and prediction post-processed by the scoring protocol."""

from __future__ import annotations

from cmbml.analysis.postprocess import postprocess_pair
from cmbml.analysis.stages.base import AnalysisStage, resolution

__all__ = ["AnalysisPostProcess"]


class AnalysisPostProcess(AnalysisStage):
    """Common post-processing of one simulation's truth and the method's predictions.

    ``matched`` protocol: both maps are brought to ``model.analysis.common_beam`` (the truth
    from ``model.analysis.truth_beam``, the prediction from the method's ``beam``) and kept to
    l <= ``model.analysis.lmax_compare``. ``published`` protocol: no filtering. Then the
    monopole and dipole fitted on the unmasked pixels are removed and masked pixels set to zero.

    Config: ``model.analysis.{protocol, field, common_beam, truth_beam, lmax_compare, niter}``
    and the method entry. Reads ``cmb_map`` (split, sim), ``analysis_mask`` and the method's
    prediction (split, sim[, epoch]); writes ``analysis_truth_pp`` (split, sim) and
    ``analysis_prediction_pp`` (split, sim, epoch), in uK_CMB.
    """

    name = "analysis_postprocess"
    fixed_inputs = ("cmb_map", "analysis_mask")
    reads_prediction = True
    outputs = ("analysis_truth_pp", "analysis_prediction_pp")
    analysis_keys = ("field", "common_beam", "truth_beam", "lmax_compare", "niter")

    def process_sim(self, split: str, sim: int) -> None:
        """Post-process the truth and every epoch's prediction of (split, sim)."""
        truth = self.read_field("cmb_map", split=split, sim=sim)
        mask = self.read_mask("analysis_mask")
        common = resolution(self.option("common_beam"), "model.analysis.common_beam")
        truth_res = resolution(self.option("truth_beam"), "model.analysis.truth_beam")
        pred_res = resolution(self.method["beam"], f"{self.method_key}.beam")
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
                protocol=self.protocol,
                lmax_compare=int(self.option("lmax_compare")),
                niter=int(self.option("niter")),
            )
            self.write("analysis_prediction_pp", pred_pp, split=split, sim=sim, epoch=epoch)
        self.write("analysis_truth_pp", truth_pp, split=split, sim=sim)
