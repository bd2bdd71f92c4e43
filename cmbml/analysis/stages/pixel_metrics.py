"""Stage ``analysis_pixel_metrics``: MAE, MSE, RMSE, NRMSE, PSNR, R² per (sim, epoch)."""

from __future__ import annotations

import pandas as pd

from cmbml.analysis.metrics import pixel_metrics
from cmbml.analysis.stages.base import AnalysisStage
from cmbml.analysis.tables import epoch_label

__all__ = ["AnalysisPixelMetrics"]


class AnalysisPixelMetrics(AnalysisStage):
    """Pixel metrics between the post-processed truth and prediction on the unmasked pixels.

    The definitions are scikit-learn's and scikit-image's, as CMB-ML uses them (see
    :mod:`cmbml.analysis.metrics`). Config: ``model.analysis.{protocol, pixel_metrics}`` and the
    method entry. Reads ``analysis_truth_pp``, ``analysis_prediction_pp`` and ``analysis_mask``;
    writes ``analysis_pixel_metrics`` (split, sim): a CSV with one row per epoch (columns
    ``sim``, ``epoch``, then one per metric).
    """

    name = "analysis_pixel_metrics"
    fixed_inputs = ("analysis_truth_pp", "analysis_prediction_pp", "analysis_mask")
    outputs = ("analysis_pixel_metrics",)
    analysis_keys = ("pixel_metrics",)

    def process_sim(self, split: str, sim: int) -> None:
        """Write the metrics table of (split, sim)."""
        good = self.read_mask("analysis_mask") > 0
        truth = self.read_field("analysis_truth_pp", split=split, sim=sim)[good]
        names = list(self.option("pixel_metrics"))
        rows = []
        for epoch in self.epochs:
            pred = self.read_field("analysis_prediction_pp", split=split, sim=sim, epoch=epoch)
            values = pixel_metrics(truth, pred[good], names)
            rows.append({"sim": sim, "epoch": epoch_label(epoch), **values})
        self.write("analysis_pixel_metrics", pd.DataFrame(rows), split=split, sim=sim)
