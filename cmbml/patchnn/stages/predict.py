"""Stage patchnn_predict: CMB patches predicted by the trained PatchNN network of each field."""

from __future__ import annotations

import numpy as np

from cmbml.nn.fields import existing_paths, product, seed_for, use_epochs
from cmbml.nn.training import predict_batches
from cmbml.nn.uncertainty import mc_predict
from cmbml.patchnn.data import PatchDataset
from cmbml.patchnn.stages._common import METHOD, PatchnnStage, build_network


class PatchnnPredict(PatchnnStage):
    """Predict the (scaled) CMB patches of every Test simulation with each epoch's checkpoint,
    field by field; with ``model.patchnn.mc_samples >= 2`` (and a network with dropout) the
    prediction is the mean of that many Monte-Carlo dropout samples and their standard
    deviation is written too.

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
    )
    outputs = (
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
        settings = self.model
        obs, values = product("patchnn_obs_patches", field)
        checkpoint = self.read(product("patchnn_checkpoint", field)[0], epoch=epoch, **values)
        n_samples = int(settings.mc_samples or 0)
        for (split, sim), path in zip(
            units, existing_paths(self, obs, units, **values), strict=True
        ):
            dataset = PatchDataset([path])
            network = build_network(self.cfg, dataset.n_channels)
            network.load_state_dict(checkpoint["model"])
            options = {"batch_size": int(settings.batch_size), "device": settings.device}
            where = {"split": split, "sim": sim, "epoch": epoch, **values}
            if n_samples >= 2:
                seed = seed_for(self.cfg, METHOD, f"mc_{split}_{sim}", field)
                means, sigmas = zip(
                    *mc_predict(network, dataset, n_samples, seed=seed, **options), strict=True
                )
                self.write(
                    product("patchnn_sigma_patches", field)[0], np.concatenate(sigmas), **where
                )
            else:
                means = list(predict_batches(network, dataset, **options))
            self.write(product("patchnn_pred_patches", field)[0], np.concatenate(means), **where)
        self.log.info("%s, epoch %d: predicted %d simulations", field, epoch, len(units))
