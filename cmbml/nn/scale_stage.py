"""The scale stage of a network method: the factors of its inputs and target, per Stokes field."""

from __future__ import annotations

from collections import defaultdict

from omegaconf import OmegaConf

from cmbml.core import ConfigError
from cmbml.nn.fields import (
    STOKES,
    NetworkStage,
    polarised_detectors,
    product,
    read_channels,
    read_stokes,
)
from cmbml.nn.scaling import (
    COMPUTED,
    MATCH_INTENSITY,
    RunningMoments,
    check_factor,
    feature_factors,
    matched_target,
    target_factor,
)

__all__ = ["NetworkScale", "scale_config_keys"]


def scale_config_keys(method: str) -> dict[str, tuple[str, ...]]:
    """The ``config_keys`` and ``pol_config_keys`` of the scale stage of ``method``."""
    settings = f"model.{method}"
    return {
        "config_keys": (
            "scenario.nside",
            f"{settings}.detectors",
            f"{settings}.scale_features",
            f"{settings}.scale_target",
        ),
        "pol_config_keys": (f"{settings}.scale_features_pol", f"{settings}.scale_target_pol"),
    }


class NetworkScale(NetworkStage):
    """Write the factors that divide a network's inputs (per field and detector) and targets.

    Config (``model.<method>``, CMBNNCS's rules): ``detectors``, ``fields`` and, for the
    intensity, ``scale_features`` (a number for every detector — 1 in cmbNNCS —, a mapping
    ``{GHz: factor}`` or ``train_std``: the standard deviation of each detector's maps over all
    Train pixels) and
    ``scale_target`` (a number — 5 in cmbNNCS — or ``train_std`` of the CMB maps); for Q and
    U, ``scale_features_pol`` (same forms, computed for Q and for U separately) and
    ``scale_target_pol`` (a number, ``train_std`` or ``match_intensity``: the factor that gives
    the Train CMB's Q, resp. U, the rms of the scaled I target,
    :func:`~cmbml.nn.scaling.matched_target`).

    Reads ``obs_map`` / ``cmb_map`` (Train split; only for computed factors) and, with Q, U,
    the instrument table ``model.sim.instrument.table`` (the Q, U networks take the detectors
    with ``has_pol``). Writes ``<method>_scale`` (I) and ``<method>_scale_pol`` (field Q, U),
    YAML ``{features: {<GHz>: factor}, target: factor, unit: uK_CMB}``: the keys of
    ``features`` are the field's input channels, in order.
    """

    inputs = ("obs_map", "cmb_map")
    per_sim = False
    splits = ("Train",)
    covers_units = True  # train_std depends on the Train simulations present

    def run(self) -> None:
        mc = self.model
        fields = self.fields()
        detectors = {"I": [int(det) for det in mc.detectors]}
        if fields != ["I"]:
            detectors["Q"] = detectors["U"] = polarised_detectors(self)
        factors = {field: self._factors(field, detectors[field]) for field in fields}
        self._compute_train_std(factors, detectors)
        for field, (features, target) in factors.items():
            self.log.info(
                "%s: input factors %s, target factor %.4g (uK_CMB)", field, features, target
            )
            name, values = product(f"{self.method}_scale", field)
            self.write(name, {"features": features, "target": target, "unit": "uK_CMB"}, **values)

    def _factors(self, field: str, detectors: list[int]) -> tuple[dict | None, float | str]:
        """Configured (features, target) of ``field``: features None where ``train_std``
        computes them, the target a factor or the rule that computes it."""
        suffix = "" if field == "I" else "_pol"
        keys = (
            f"model.{self.method}.scale_features{suffix}",
            f"model.{self.method}.scale_target{suffix}",
        )
        spec, target = (OmegaConf.select(self.cfg, key) for key in keys)
        for key, value in zip(keys, (spec, target), strict=True):
            if value is None:
                raise ConfigError(f"{key} is not set: a number, a mapping or '{COMPUTED}'")
        if OmegaConf.is_config(spec):
            spec = OmegaConf.to_container(spec, resolve=True)
        try:
            features = feature_factors(spec, detectors, keys[0])
            target = target_factor(target, keys[1], polarised=field != "I")
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        return features, target

    def _compute_train_std(self, factors: dict, detectors: dict) -> None:
        """Replace the computed factors of ``factors`` by their values, in place: one pass over
        the Train maps, each file read once for all the fields it serves."""
        channels = {  # field -> detectors whose input factor is computed
            field: detectors[field] for field, (features, _) in factors.items() if features is None
        }
        rules = {field: target for field, (_, target) in factors.items() if isinstance(target, str)}
        targets = [  # fields whose Train CMB rms is needed
            field
            for field in factors
            if field in rules or (field == "I" and MATCH_INTENSITY in rules.values())
        ]
        if not any(channels.values()) and not targets:
            return
        units = list(self.units())
        if not units:
            raise ConfigError(f"stage '{self.name}': train_std needs Train simulations, found 0")
        moments: dict = defaultdict(RunningMoments)
        for split, sim in units:
            for key, values in read_channels(self, channels, split=split, sim=sim).items():
                moments[key].add(values)
            if targets:
                indices = [STOKES[field] for field in targets]
                maps = read_stokes(self, "cmb_map", indices, split=split, sim=sim)
                for field, values in zip(targets, maps, strict=True):
                    moments[field].add(values)
        for field, (features, target) in factors.items():  # I first: the others may match it
            if features is None:
                features = {
                    str(det): _std(moments[field, det], f"'obs_map' {field} at {det} GHz")
                    for det in detectors[field]
                }
            if target == COMPUTED:
                target = _std(moments[field], f"'cmb_map' {field}")
            elif target == MATCH_INTENSITY:
                std = _std(moments[field], f"'cmb_map' {field}")
                target = matched_target(std, _std(moments["I"], "'cmb_map' I"), factors["I"][1])
            factors[field] = features, target


def _std(moments: RunningMoments, what: str) -> float:
    return check_factor(moments.std, f"the Train standard deviation of {what}")
