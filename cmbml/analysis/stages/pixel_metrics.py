"""Stage ``analysis_pixel_metrics``: MAE, MSE, RMSE, NRMSE, PSNR, R² per (sim, epoch, field)."""

from __future__ import annotations

import pandas as pd

from cmbml.analysis.fields import scored_fields
from cmbml.analysis.metrics import field_metrics
from cmbml.analysis.stages.base import AnalysisStage
from cmbml.analysis.tables import epoch_label

__all__ = ["AnalysisPixelMetrics"]


class AnalysisPixelMetrics(AnalysisStage):
    """Pixel metrics between the post-processed truth and prediction on the unmasked pixels.

    The definitions are scikit-learn's and scikit-image's, as CMB-ML uses them (see
    :mod:`cmbml.analysis.metrics`), applied to each field the two maps share (I, or I, Q, U) and,
    with ``model.analysis.pol_amplitude``, to P = sqrt(Q² + U²)
    (:func:`cmbml.analysis.metrics.field_metrics`). Config: ``model.analysis.{protocol,
    pixel_metrics, pol_amplitude}`` and the method entry. Reads ``analysis_truth_pp``,
    ``analysis_prediction_pp`` and ``analysis_mask``; writes ``analysis_pixel_metrics`` (split,
    sim; one per scoring, :meth:`AnalysisStage.scorings`): a CSV with one row per epoch
    (columns ``sim``, ``epoch``, then one per metric), or, when Q, U are scored, one row per
    epoch and field with a ``field`` column after ``epoch``.
    """

    name = "analysis_pixel_metrics"
    fixed_inputs = ("analysis_truth_pp", "analysis_prediction_pp", "analysis_mask")
    outputs = ("analysis_pixel_metrics",)
    analysis_keys = ("pixel_metrics", "pol_amplitude")

    def process_sim(self, split: str, sim: int) -> None:
        """Write the metrics table of (split, sim) for each scoring."""
        good = self.read_mask("analysis_mask") > 0
        names = list(self.option("pixel_metrics"))
        amplitude = bool(self.option("pol_amplitude"))
        for scoring, _ in self.scorings():
            truth, truth_names = self.read_maps(
                "analysis_truth_pp", split=split, sim=sim, scoring=scoring
            )
            rows = []
            for epoch in self.epochs:
                where = dict(split=split, sim=sim, epoch=epoch, scoring=scoring)
                pred, pred_names = self.read_maps("analysis_prediction_pp", **where)
                fields = scored_fields(truth_names, pred_names)
                n = len(fields)
                values = field_metrics(
                    truth[:n], pred[:n], good, fields, names, amplitude=amplitude
                )
                for field, metrics in values.items():
                    row = {"sim": sim, "epoch": epoch_label(epoch), "field": field}
                    rows.append({**row, **metrics})
            table = pd.DataFrame(rows)
            if set(table["field"]) == {"I"}:
                table = table.drop(columns="field")
            self.write("analysis_pixel_metrics", table, split=split, sim=sim, scoring=scoring)
