"""Stage patchnn_train: train one PatchNN UNet per Stokes field on Train, validate on Valid."""

from __future__ import annotations

import torch

from cmbml.nn.fields import checkpoint_epochs, existing_paths, product, seed_for, split_sims
from cmbml.nn.train_stage import NetworkTrain
from cmbml.nn.training import TrainConfig, Trainer
from cmbml.patchnn.data import PatchDataset
from cmbml.patchnn.stages._common import METHOD, PatchnnStage, build_network


class PatchnnTrain(PatchnnStage, NetworkTrain):
    """Train one ``model.patchnn.network`` per Stokes field on every patch of the Train
    simulations (L1 loss, Adam, exponential learning-rate decay; ``lr_min = lr``: constant, as
    CMB-ML).

    Config: ``model.patchnn`` keys ``network``, ``nside_patch``, ``detectors``, ``fields``,
    ``num_epochs``, ``batch_size`` (patches per step), ``repeat_n``, ``lr``, ``lr_min``,
    ``lr_decay``, ``amp``, ``checkpoint_every``, ``checkpoint_epochs``; ``restart_epoch``,
    ``device``, ``num_workers`` (execution only). Reads ``patchnn_obs_patches`` and
    ``patchnn_cmb_patches`` (``_pol`` for Q, U) of the Train* and Valid* splits. Writes
    ``patchnn_checkpoint`` / ``_pol`` and ``patchnn_train_log`` / ``_pol``; resumes exactly
    (:class:`~cmbml.nn.train_stage.NetworkTrain`), also under ``torchrun``.
    """

    name = "patchnn_train"
    inputs = (
        "patchnn_obs_patches",
        "patchnn_obs_patches_pol",
        "patchnn_cmb_patches",
        "patchnn_cmb_patches_pol",
        "patchnn_checkpoint",
        "patchnn_checkpoint_pol",
    )
    outputs = (
        "patchnn_checkpoint",
        "patchnn_checkpoint_pol",
        "patchnn_train_log",
        "patchnn_train_log_pol",
    )
    config_keys = tuple(
        f"model.patchnn.{key}"
        for key in (
            "network",
            "nside_patch",
            "detectors",
            "num_epochs",
            "batch_size",
            "repeat_n",
            "lr",
            "lr_min",
            "lr_decay",
            "amp",
            "checkpoint_every",
            "checkpoint_epochs",
        )
    )

    def _dataset(self, prefix: str, field: str) -> PatchDataset:
        sims = split_sims(self.cfg, prefix)
        obs, values = product("patchnn_obs_patches", field)
        cmb, _ = product("patchnn_cmb_patches", field)
        return PatchDataset(
            existing_paths(self, obs, sims, **values), existing_paths(self, cmb, sims, **values)
        )

    def run(self) -> None:
        for field in self.fields():
            settings = self.model
            train_set, valid_set = self._dataset("Train", field), self._dataset("Valid", field)
            torch.manual_seed(seed_for(self.cfg, METHOD, "weights", field))
            network = build_network(self.cfg, train_set.n_channels)
            config = TrainConfig.from_settings(
                settings,
                seed=seed_for(self.cfg, METHOD, "shuffle", field),
                amp=bool(settings.amp),
                num_workers=int(settings.num_workers),
                checkpoint_epochs=checkpoint_epochs(settings),
            )
            trainer = Trainer(network, train_set, valid_set, config, device=settings.device)
            files = [
                *train_set.feature_paths,
                *train_set.target_paths,
                *valid_set.feature_paths,
                *valid_set.target_paths,
            ]
            description = (
                f"PatchUNet ({train_set.n_channels} inputs) on {len(train_set)} patches of "
                f"{len(train_set.feature_paths)} sims ({len(valid_set)} valid)"
            )
            self.fit_resumable(trainer, field, files, description)
