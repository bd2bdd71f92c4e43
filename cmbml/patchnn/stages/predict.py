"""Stage patchnn_predict: CMB patches predicted by the trained PatchNN network of each field."""

from __future__ import annotations

from cmbml.nn.stack_stages import StackPredict, predict_declarations
from cmbml.patchnn.stages._common import PatchnnStage


class PatchnnPredict(PatchnnStage, StackPredict):
    """Predict the (scaled) CMB patches of every Test simulation with each epoch's checkpoint
    (:class:`~cmbml.nn.stack_stages.StackPredict`: Monte-Carlo dropout and its Valid
    calibration).

    Config: ``model.patchnn.use_epochs``, ``network``, ``nside_patch``, ``detectors``,
    ``fields``, ``mc_samples``, ``sigma_calibration``, ``batch_size``, ``device``. Reads
    ``patchnn_checkpoint``, ``patchnn_obs`` (Test; Valid with calibration) and ``patchnn_cmb``
    (Valid, calibration only). Writes ``patchnn_pred`` and ``patchnn_sigma`` (/ ``_pol``;
    split, sim, epoch; float32 ``(n_patches, 1, p, p)``) and ``patchnn_sigma_calibration``.
    """

    name = "patchnn_predict"
    inputs, outputs, config_keys = predict_declarations("patchnn", "nside_patch")
