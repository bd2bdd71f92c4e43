"""Stage deepsphere_scale: the scale factors of the DeepSphere inputs and target, per field."""

from __future__ import annotations

from cmbml.deepsphere.stages._common import DeepsphereStage
from cmbml.nn.scale_stage import NetworkScale, scale_config_keys


class DeepsphereScale(DeepsphereStage, NetworkScale):
    """The factors that divide the DeepSphere inputs and targets
    (:class:`~cmbml.nn.scale_stage.NetworkScale` on ``model.deepsphere``): ``deepsphere_scale`` (I)
    and ``deepsphere_scale_pol`` (Q, U)."""

    name = "deepsphere_scale"
    outputs = ("deepsphere_scale", "deepsphere_scale_pol")
    config_keys = scale_config_keys("deepsphere")["config_keys"]
    pol_config_keys = scale_config_keys("deepsphere")["pol_config_keys"]
