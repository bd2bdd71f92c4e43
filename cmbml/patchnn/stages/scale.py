"""Stage patchnn_scale: the scale factors of the PatchNN inputs and target, per Stokes field."""

from __future__ import annotations

from cmbml.nn.scale_stage import NetworkScale, scale_config_keys
from cmbml.patchnn.stages._common import PatchnnStage


class PatchnnScale(PatchnnStage, NetworkScale):
    """The factors that divide the PatchNN inputs and targets
    (:class:`~cmbml.nn.scale_stage.NetworkScale` on ``model.patchnn``): ``patchnn_scale`` (I)
    and ``patchnn_scale_pol`` (Q, U)."""

    name = "patchnn_scale"
    outputs = ("patchnn_scale", "patchnn_scale_pol")
    config_keys = scale_config_keys("patchnn")["config_keys"]
    pol_config_keys = scale_config_keys("patchnn")["pol_config_keys"]
