"""Stage hybrid_scale: the scale factors of the Hybrid's frequency inputs and target."""

from __future__ import annotations

from cmbml.hybrid.stages._common import HybridStage
from cmbml.nn.scale_stage import NetworkScale, scale_config_keys


class HybridScale(HybridStage, NetworkScale):
    """The factors that divide the Hybrid inputs and targets
    (:class:`~cmbml.nn.scale_stage.NetworkScale` on ``model.hybrid``): ``hybrid_scale`` (I)
    and ``hybrid_scale_pol`` (Q, U)."""

    name = "hybrid_scale"
    outputs = ("hybrid_scale", "hybrid_scale_pol")
    config_keys = scale_config_keys("hybrid")["config_keys"]
    pol_config_keys = scale_config_keys("hybrid")["pol_config_keys"]
