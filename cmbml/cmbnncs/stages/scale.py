"""Stage cmbnncs_scale: the scale factors of the CMBNNCS inputs and target."""

from __future__ import annotations

from omegaconf import OmegaConf

from cmbml.cmbnncs.scaling import COMPUTED, RunningMoments, check_factor, feature_factors
from cmbml.cmbnncs.stages._common import map_read_options
from cmbml.core import ConfigError, Stage


class CmbnncsScale(Stage):
    """Write the factors that divide the CMBNNCS inputs (per detector) and target.

    Config: ``model.cmbnncs.detectors``, ``scale_features`` (a number for every detector — 1 in
    cmbNNCS —, a mapping ``{GHz: factor}`` or ``train_std``: the standard deviation of each
    detector's temperature maps over all Train pixels), ``scale_target`` (a number — 5 in
    cmbNNCS — or ``train_std`` of the CMB maps). Reads ``obs_map`` / ``cmb_map`` (Train split;
    only for ``train_std``). Writes ``cmbnncs_scale`` (YAML: ``{features: {<GHz>: factor},
    target: factor, unit: uK_CMB}``).
    """

    name = "cmbnncs_scale"
    inputs = ("obs_map", "cmb_map")
    outputs = ("cmbnncs_scale",)
    config_keys = (
        "scenario.nside",
        "model.cmbnncs.detectors",
        "model.cmbnncs.scale_features",
        "model.cmbnncs.scale_target",
    )
    per_sim = False
    splits = ("Train",)
    covers_units = True  # train_std depends on the Train simulations present

    def run(self) -> None:
        mc = self.cfg.model.cmbnncs
        detectors = [int(det) for det in mc.detectors]
        spec = mc.scale_features
        if OmegaConf.is_config(spec):
            spec = OmegaConf.to_container(spec, resolve=True)
        try:
            features = feature_factors(spec, detectors, "model.cmbnncs.scale_features")
            target = (
                None
                if mc.scale_target == COMPUTED
                else check_factor(mc.scale_target, "model.cmbnncs.scale_target")
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        if features is None:
            features = {str(det): self._train_std("obs_map", freq=det) for det in detectors}
        if target is None:
            target = self._train_std("cmb_map")
        self.log.info("input factors %s, target factor %.4g (uK_CMB)", features, target)
        self.write("cmbnncs_scale", {"features": features, "target": target, "unit": "uK_CMB"})

    def _train_std(self, name: str, **values) -> float:
        moments = RunningMoments()
        units = list(self.units())
        if not units:
            raise ConfigError(f"stage '{self.name}': train_std needs Train simulations, found 0")
        for split, sim in units:
            options = map_read_options(self.cfg)
            moments.add(self.read(name, options=options, split=split, sim=sim, **values))
        return check_factor(moments.std, f"the Train standard deviation of '{name}' {values}")
