"""Stage cmbnncs_scale: the scale factors of the CMBNNCS inputs and target."""

from __future__ import annotations

from cmbml.core import Stage


class CmbnncsScale(Stage):
    """Write the CMBNNCS scale factors (cmbNNCS: features / 1, target / 5).

    Config: ``model.cmbnncs.detectors``, ``model.cmbnncs.scale_features``,
    ``model.cmbnncs.scale_target``. Writes ``cmbnncs_scale`` (YAML:
    ``{features: {<GHz>: factor}, target: factor, unit: uK_CMB}``).
    """

    name = "cmbnncs_scale"
    outputs = ("cmbnncs_scale",)
    config_keys = (
        "model.cmbnncs.detectors",
        "model.cmbnncs.scale_features",
        "model.cmbnncs.scale_target",
    )
    per_sim = False

    def run(self) -> None:
        mc = self.cfg.model.cmbnncs
        features = {str(det): float(mc.scale_features) for det in mc.detectors}
        target = float(mc.scale_target)
        if target == 0 or any(v == 0 for v in features.values()):
            raise ValueError(
                "model.cmbnncs.scale_features and model.cmbnncs.scale_target must be non-zero"
            )
        self.write("cmbnncs_scale", {"features": features, "target": target, "unit": "uK_CMB"})
