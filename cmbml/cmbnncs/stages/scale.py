"""Stage cmbnncs_scale: the scale factors of the CMBNNCS inputs and target, per Stokes field."""

from __future__ import annotations

from cmbml.cmbnncs.stages._common import CmbnncsStage
from cmbml.nn.scale_stage import NetworkScale, scale_config_keys


class CmbnncsScale(CmbnncsStage, NetworkScale):
    """Write the factors that divide the CMBNNCS inputs (per field and detector) and targets
    (:class:`~cmbml.nn.scale_stage.NetworkScale` on ``model.cmbnncs``): ``cmbnncs_scale`` (I)
    and ``cmbnncs_scale_pol`` (Q, U)."""

    name = "cmbnncs_scale"
    outputs = ("cmbnncs_scale", "cmbnncs_scale_pol")
    config_keys = scale_config_keys("cmbnncs")["config_keys"]
    pol_config_keys = scale_config_keys("cmbnncs")["pol_config_keys"]
