"""Stage ``analysis_postprocess``: truth and prediction post-processed by the scoring protocol."""

from __future__ import annotations

import logging

from cmbml.analysis.cmb_ml import to_target_beam
from cmbml.analysis.fields import POLARISED, scored_fields, select_fields, truth_fields
from cmbml.analysis.postprocess import postprocess_map
from cmbml.analysis.stages.base import AnalysisStage, resolution

__all__ = ["AnalysisPostProcess"]


class AnalysisPostProcess(AnalysisStage):
    """Common post-processing of one simulation's truth and the method's predictions.

    ``matched`` protocol: both maps are brought to ``model.analysis.common_beam`` (the truth
    from ``model.analysis.truth_beam``, the prediction from the beam and window its header
    records, which must be the method's ``beam``: see
    :meth:`~cmbml.analysis.stages.base.AnalysisStage.read_prediction`) and kept to
    l <= ``model.analysis.lmax_compare`` (Q and U through their E and B modes). ``published``
    protocol: no filtering. ``iccv2025``: both brought to each of
    ``model.analysis.cmb_ml.target_beams`` as CMB-ML does
    (:func:`cmbml.analysis.cmb_ml.to_target_beam`), one output folder per beam. Then the monopole
    and dipole of I fitted on the unmasked pixels are removed and masked pixels set to zero
    (:func:`cmbml.analysis.postprocess.postprocess_map`). The prediction's pixel window is the
    method's ``beam.pixwin`` (``dataset``: the dataset's record).

    Fields (``model.analysis.fields``): the truth's fields that were asked for (all with
    ``auto``) and that some prediction of the method has; each prediction keeps the ones it
    shares with them. A method that predicts I only on an I, Q, U dataset is scored on I, and
    the log says so once per process (a warning when Q, U were asked for explicitly).

    Config: ``model.analysis.{protocol, fields, common_beam, truth_beam, lmax_compare, niter,
    cmb_ml}``, ``dataset.pixel_window`` and the method entry. Reads ``cmb_map`` (split, sim),
    ``dataset_info``, ``analysis_mask`` and the method's
    prediction (split, sim[, epoch]); writes ``analysis_truth_pp`` (split, sim) and
    ``analysis_prediction_pp`` (split, sim, epoch), in uK_CMB, with one field (I) or three.
    """

    name = "analysis_postprocess"
    fixed_inputs = ("cmb_map", "analysis_mask")
    reads_prediction = True
    outputs = ("analysis_truth_pp", "analysis_prediction_pp")
    analysis_keys = ("fields", "common_beam", "truth_beam", "lmax_compare", "niter")
    _said = False

    def process_sim(self, split: str, sim: int) -> None:
        """Post-process the truth and every epoch's prediction of (split, sim), once per
        scoring (:meth:`AnalysisStage.scorings`)."""
        requested = self.requested_fields
        truth, names = self.read_maps("cmb_map", split=split, sim=sim)
        wanted = truth_fields(requested, names, str(self.path("cmb_map", split=split, sim=sim)))
        mask = self.read_mask("analysis_mask")
        truth_res = resolution(self.option("truth_beam"), "model.analysis.truth_beam")
        predictions, predicted = {}, set()
        for epoch in self.epochs:
            where = dict(split=split, sim=sim, epoch=epoch)
            prediction, pred_names, pred_res = self.read_prediction(**where)
            fields = scored_fields(wanted, pred_names)
            if fields != wanted:
                self._say(fields, wanted, self.path(self.method["prediction"], **where))
            predicted.update(fields)
            predictions[epoch] = (select_fields(prediction, fields), pred_res)
        truth = select_fields(truth, scored_fields(wanted, tuple(predicted)))
        for scoring, target in self.scorings():
            process = self._processor(mask, target)
            for epoch, (prediction, pred_res) in predictions.items():
                pred_pp = process(prediction, pred_res)
                where = dict(split=split, sim=sim, epoch=epoch, scoring=scoring)
                self.write("analysis_prediction_pp", pred_pp, **where)
            truth_pp = process(truth, truth_res)
            self.write("analysis_truth_pp", truth_pp, split=split, sim=sim, scoring=scoring)

    def _processor(self, mask, target):
        """``f(maps, resolution)``: the protocol's post-processing (one target beam of
        ``iccv2025``)."""
        if target is not None:
            lmax, niter = int(self.option("cmb_ml.lmax")), int(self.option("cmb_ml.niter"))
            return lambda maps, res: to_target_beam(
                maps, mask, resolution=res, target=target, lmax=lmax, niter=niter
            )
        options = dict(
            common_resolution=resolution(self.option("common_beam"), "model.analysis.common_beam"),
            protocol=self.protocol,
            lmax_compare=int(self.option("lmax_compare")),
            niter=int(self.option("niter")),
        )
        return lambda maps, res: postprocess_map(maps, mask, resolution=res, **options)

    def check_up_to_date(self, unit: tuple[str, int]) -> None:
        """Refuse, even with this unit up to date, a prediction that is no longer current
        (:meth:`~cmbml.analysis.stages.base.AnalysisStage.check_prediction`)."""
        split, sim = unit
        for epoch in self.epochs:
            path = self.path(self.method["prediction"], split=split, sim=sim, epoch=epoch)
            if path.is_file():
                self.check_prediction(path)

    def _say(self, fields: tuple[str, ...], wanted: tuple[str, ...], path) -> None:
        """Log once per process that the method is scored on fewer fields than the truth's."""
        if self._said:
            return
        self._said = True
        missing = ", ".join(f for f in wanted if f not in fields)
        level = logging.WARNING if self.requested_fields == POLARISED else logging.INFO
        self.log.log(
            level,
            "%s is scored on %s only: its prediction %s has no %s (the truth has %s)",
            self.method["name"],
            ", ".join(fields),
            path,
            missing,
            ", ".join(wanted),
        )
