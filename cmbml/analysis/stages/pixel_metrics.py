"""Stage ``analysis_pixel_metrics``: MAE, MSE, RMSE, NRMSE, PSNR, R² per (sim, epoch, field)."""

from __future__ import annotations

import pandas as pd
from omegaconf import OmegaConf

from cmbml.analysis.face_edges import face_edge_ratio
from cmbml.analysis.fields import scored_fields
from cmbml.analysis.metrics import field_metrics
from cmbml.analysis.stages.base import AnalysisStage
from cmbml.analysis.tables import epoch_label
from cmbml.analysis.uncertainty import uncertainty_metrics

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

    A method entry with ``sigma`` (the catalog entry of its per-pixel standard deviation, e.g.
    ``cmb_map_sigma``), whose file exists (the method sampled it), is also scored on its uncertainty
    (:func:`cmbml.analysis.uncertainty.uncertainty_metrics`: columns ``coverage_1sigma``,
    ``z_std`` per field), at the prediction's own resolution: the truth ``cmb_map`` against the
    prediction as written, on the kept pixels of ``analysis_mask``. With
    ``model.analysis.face_edge_width`` (pixels), each field also gets ``face_edge_ratio``
    (:func:`cmbml.analysis.face_edges.face_edge_ratio` of the post-processed residual).
    """

    name = "analysis_pixel_metrics"
    fixed_inputs = ("analysis_truth_pp", "analysis_prediction_pp", "analysis_mask")
    outputs = ("analysis_pixel_metrics",)

    @property
    def analysis_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        """The metric settings; ``face_edge_width`` only when set (so that the results of a
        run without it keep their hash)."""
        edges = ("face_edge_width",) if self.option_or_none("face_edge_width") else ()
        return ("pixel_metrics", "pol_amplitude", *edges)

    def option_or_none(self, key: str):
        """``model.analysis.<key>``, or None when absent."""
        return OmegaConf.select(self.cfg, f"model.analysis.{key}", default=None)

    @property
    def inputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """The post-processed maps and mask, plus the raw truth, prediction and sigma when the
        method has a ``sigma`` entry."""
        sigma = self.method.get("sigma")
        return (
            *self.fixed_inputs,
            *(("cmb_map", self.method["prediction"], sigma) if sigma else ()),
        )

    def process_sim(self, split: str, sim: int) -> None:
        """Write the metrics table of (split, sim) for each scoring."""
        good = self.read_mask("analysis_mask") > 0
        for scoring, _ in self.scorings():
            table = self._table(split, sim, scoring, good)
            self.write("analysis_pixel_metrics", table, split=split, sim=sim, scoring=scoring)

    def _table(self, split: str, sim: int, scoring: str, good) -> pd.DataFrame:
        """The metrics of every epoch of (split, sim) under one scoring."""
        names = list(self.option("pixel_metrics"))
        amplitude = bool(self.option("pol_amplitude"))
        width = self.option_or_none("face_edge_width")
        sigma = self.method.get("sigma")
        truth, truth_names = self.read_maps(
            "analysis_truth_pp", split=split, sim=sim, scoring=scoring
        )
        rows = []
        for epoch in self.epochs:
            where = dict(split=split, sim=sim, epoch=epoch)
            pred, pred_names = self.read_maps("analysis_prediction_pp", scoring=scoring, **where)
            fields = scored_fields(truth_names, pred_names)
            n = len(fields)
            values = field_metrics(truth[:n], pred[:n], good, fields, names, amplitude=amplitude)
            if width:
                for k, field in enumerate(fields):
                    residual = pred[k] - truth[k]
                    values[field]["face_edge_ratio"] = face_edge_ratio(residual, good, int(width))
            if sigma and self.exists(sigma, **where):
                self._score_sigma(values, good, fields, where)
            for field, metrics in values.items():
                rows.append({"sim": sim, "epoch": epoch_label(epoch), "field": field, **metrics})
        table = pd.DataFrame(rows)
        if set(table["field"]) == {"I"}:
            table = table.drop(columns="field")
        return table

    def _score_sigma(self, values: dict, good, fields: list[str], where: dict) -> None:
        """Add the uncertainty metrics of each scored field to ``values``, in place."""
        truth, _ = self.read_maps("cmb_map", split=where["split"], sim=where["sim"])
        pred, _ = self.read_maps(self.method["prediction"], **where)
        sigma, _ = self.read_maps(self.method["sigma"], **where)
        for k, field in enumerate(fields):
            values[field].update(uncertainty_metrics(truth[k, good], pred[k, good], sigma[k, good]))
