"""Stage deepsphere_predict: NEST CMB maps predicted by the trained network of each field."""

from __future__ import annotations

from cmbml.deepsphere.stages._common import DeepsphereStage
from cmbml.nn.stack_stages import StackPredict, predict_declarations


class DeepspherePredict(DeepsphereStage, StackPredict):
    """Predict the (scaled) NEST CMB map of every Test simulation with each epoch's checkpoint
    (:class:`~cmbml.nn.stack_stages.StackPredict`: Monte-Carlo dropout and its Valid
    calibration).

    Config: ``model.deepsphere.use_epochs``, ``network``, ``detectors``,
    ``fields``, ``mc_samples``, ``sigma_calibration``, ``batch_size``, ``device``. Reads
    ``deepsphere_checkpoint``, ``deepsphere_obs`` (Test; Valid with calibration) and
    ``deepsphere_cmb`` (Valid, calibration only). Writes ``deepsphere_pred`` and
    ``deepsphere_sigma`` (/ ``_pol``; split, sim, epoch; float32 ``(1, 1, npix)``, NEST) and
    ``deepsphere_sigma_calibration``.
    """

    name = "deepsphere_predict"
    inputs, outputs, config_keys = predict_declarations("deepsphere")
