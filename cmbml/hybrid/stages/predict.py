"""Stage hybrid_predict: the ILC corrections predicted by the trained network (NEST)."""

from __future__ import annotations

from cmbml.hybrid.stages._common import HybridStage
from cmbml.nn.stack_stages import StackPredict, predict_declarations


class HybridPredict(HybridStage, StackPredict):
    """Predict the (scaled) NEST ILC correction of every Test simulation with each epoch's
    checkpoint (:class:`~cmbml.nn.stack_stages.StackPredict`: Monte-Carlo dropout and its Valid
    calibration).

    Config: ``model.hybrid.use_epochs``, ``network``, ``detectors``,
    ``fields``, ``mc_samples``, ``sigma_calibration``, ``batch_size``, ``device``. Reads
    ``hybrid_checkpoint``, ``hybrid_obs`` (Test; Valid with calibration) and
    ``hybrid_cmb`` (Valid, calibration only). Writes ``hybrid_pred`` and
    ``hybrid_sigma`` (/ ``_pol``; split, sim, epoch; float32 ``(1, 1, npix)``, NEST) and
    ``hybrid_sigma_calibration``.
    """

    name = "hybrid_predict"
    inputs, outputs, config_keys = predict_declarations("hybrid")
