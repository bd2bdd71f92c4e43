"""Stage patchnn_predict: CMB patches predicted by the trained PatchNN network of each field."""

from __future__ import annotations

import numpy as np

from cmbml.core import ConfigError
from cmbml.nn.fields import existing_paths, product, seed_for, split_sims, use_epochs
from cmbml.nn.training import predict_batches
from cmbml.nn.uncertainty import mc_predict
from cmbml.patchnn.data import PatchDataset
from cmbml.patchnn.stages._common import METHOD, PatchnnStage, build_network

#: Fraction of a Gaussian within +-1 sigma: the coverage a calibrated sigma gives.
COVERAGE = 0.6827


class PatchnnPredict(PatchnnStage):
    """Predict the (scaled) CMB patches of every Test simulation with each epoch's checkpoint,
    field by field; with ``model.patchnn.mc_samples >= 2`` (and a network with dropout) the
    prediction is the mean of that many Monte-Carlo dropout samples and their standard
    deviation is written too. With ``model.patchnn.sigma_calibration=valid`` that standard
    deviation is multiplied by one factor per field and epoch, fitted on the Valid split (never
    on Test): the quantile 0.6827 of ``|prediction - truth| / sigma`` over every Valid pixel,
    so that +-sigma covers 68.27 % of the Valid pixels (``patchnn_sigma_calibration``: the
    factor and the Valid coverage before it).

    Config: ``model.patchnn.use_epochs``, ``network``, ``nside_patch``, ``detectors``,
    ``fields``, ``mc_samples``, ``batch_size``, ``device``. Reads ``patchnn_checkpoint`` and
    ``patchnn_obs_patches`` (``_pol`` for Q, U) of the Test splits. Writes
    ``patchnn_pred_patches`` (and ``patchnn_sigma_patches``) / ``_pol`` (split, sim, epoch;
    float32 ``(n_patches, 1, p, p)``, in units of the field's scaled target).
    """

    name = "patchnn_predict"
    inputs = (
        "patchnn_checkpoint",
        "patchnn_checkpoint_pol",
        "patchnn_obs_patches",
        "patchnn_obs_patches_pol",
        "patchnn_cmb_patches",
        "patchnn_cmb_patches_pol",
    )
    outputs = (
        "patchnn_sigma_calibration",
        "patchnn_pred_patches",
        "patchnn_pred_patches_pol",
        "patchnn_sigma_patches",
        "patchnn_sigma_patches_pol",
    )
    config_keys = (
        "model.patchnn.use_epochs",
        "model.patchnn.network",
        "model.patchnn.nside_patch",
        "model.patchnn.detectors",
        "model.patchnn.mc_samples",
        "model.patchnn.sigma_calibration",
    )
    per_sim = False
    splits = ("Test",)
    infer = True
    covers_units = True

    def run(self) -> None:
        units = list(self.units())
        for field in self.fields():
            for epoch in use_epochs(self.cfg, METHOD):
                self._predict(field, epoch, units)

    def _predict(self, field: str, epoch: int, units: list[tuple[str, int]]) -> None:
        name, values = product("patchnn_checkpoint", field)
        checkpoint = self.read(name, epoch=epoch, **values)
        paths = self._obs_paths(field, units)
        network = build_network(self.cfg, PatchDataset(paths[:1]).n_channels)
        network.load_state_dict(checkpoint["model"])
        factor = self._calibrate(network, field, epoch)
        for (split, sim), path in zip(units, paths, strict=True):
            mean, sigma = self._sample(network, path, field, split, sim)
            where = {"split": split, "sim": sim, "epoch": epoch, **values}
            if sigma is not None:
                self.write(product("patchnn_sigma_patches", field)[0], sigma * factor, **where)
            self.write(product("patchnn_pred_patches", field)[0], mean, **where)
        self.log.info("%s, epoch %d: predicted %d simulations", field, epoch, len(units))

    def _obs_paths(self, field: str, units: list[tuple[str, int]]) -> list:
        name, values = product("patchnn_obs_patches", field)
        return existing_paths(self, name, units, **values)

    def _sample(self, network, path, field: str, split: str, sim: int):
        """Prediction ``(n_patches, 1, p, p)`` of one simulation's patches and its Monte-Carlo
        standard deviation (None without samples)."""
        settings = self.model
        dataset = PatchDataset([path])
        options = {"batch_size": int(settings.batch_size), "device": settings.device}
        n_samples = int(settings.mc_samples or 0)
        if n_samples < 2:
            return np.concatenate(list(predict_batches(network, dataset, **options))), None
        seed = seed_for(self.cfg, METHOD, f"mc_{split}_{sim}", field)
        means, sigmas = zip(
            *mc_predict(network, dataset, n_samples, seed=seed, **options), strict=True
        )
        return np.concatenate(means), np.concatenate(sigmas)

    def _calibrate(self, network, field: str, epoch: int) -> float:
        """The factor of the Monte-Carlo sigma of ``field`` (1 without calibration), fitted on
        the Valid split and written to ``patchnn_sigma_calibration``."""
        rule = str(self.model.get("sigma_calibration") or "none")
        if rule not in ("none", "valid"):
            raise ConfigError(
                f"model.patchnn.sigma_calibration must be 'none' or 'valid', got {rule!r}"
            )
        if rule == "none" or int(self.model.mc_samples or 0) < 2:
            return 1.0
        sims = split_sims(self.cfg, "Valid")
        if not sims:
            raise ConfigError("model.patchnn.sigma_calibration=valid needs Valid simulations")
        cmb, values = product("patchnn_cmb_patches", field)
        truths = existing_paths(self, cmb, sims, **values)
        ratios = []
        for (split, sim), obs, truth in zip(
            sims, self._obs_paths(field, sims), truths, strict=True
        ):
            mean, sigma = self._sample(network, obs, field, split, sim)
            residual = np.abs(mean - np.load(truth)).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios.append(np.where(residual > 0, residual / sigma.ravel(), 0.0))
        ratios = np.concatenate(ratios)
        factor = float(np.quantile(ratios, COVERAGE))
        if not np.isfinite(factor) or factor <= 0:
            raise ConfigError(
                f"model.patchnn.sigma_calibration=valid: the Monte-Carlo sigma of {field} is 0 "
                "on too many Valid pixels to be calibrated; raise model.patchnn.mc_samples or "
                "model.patchnn.network.dropout"
            )
        before = float(np.mean(ratios <= 1.0))
        self.log.info(
            "%s, epoch %d: sigma x %.3f (Valid coverage of +-sigma before: %.3f)",
            field,
            epoch,
            factor,
            before,
        )
        calibration = {"factor": factor, "valid_coverage_before": before, "n_pixels": ratios.size}
        self.write("patchnn_sigma_calibration", calibration, field=field, epoch=epoch)
        return factor
