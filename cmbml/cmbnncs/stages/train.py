"""Stage cmbnncs_train: train one CMBNNCS UNet per Stokes field on Train, validate on Valid."""

from __future__ import annotations

import torch

from cmbml.cmbnncs.data import PlaneDataset
from cmbml.cmbnncs.stages._common import (
    CmbnncsStage,
    build_network,
    checkpoint_epochs,
    existing_paths,
    product,
    seed_for,
    split_sims,
)
from cmbml.nn.train_stage import NetworkTrain
from cmbml.nn.training import TrainConfig, Trainer


class CmbnncsTrain(CmbnncsStage, NetworkTrain):
    """Train one ``model.cmbnncs.network`` per Stokes field (L1 loss, Adam, exponential
    learning-rate decay): I, then Q and U when ``model.cmbnncs.fields`` has them.

    Config: ``model.cmbnncs`` keys ``network``, ``detectors``, ``fields``, ``num_epochs``,
    ``batch_size``, ``repeat_n``, ``lr``, ``lr_min``, ``lr_decay``, ``amp``,
    ``checkpoint_every``, ``checkpoint_epochs`` (these define the result) and ``restart_epoch``,
    ``device``, ``num_workers`` (execution only). Every field's network has the same
    hyper-parameters and one input channel per plane of its field. Reads, per field,
    ``cmbnncs_obs_plane`` and ``cmbnncs_cmb_plane`` (I) or their ``*_pol`` entries (Q, U) of
    the Train* and Valid* splits. Writes, per field, ``cmbnncs_checkpoint`` /
    ``cmbnncs_checkpoint_pol`` (epoch 0 = init, configured epochs, last epoch) and
    ``cmbnncs_train_log`` / ``cmbnncs_train_log_pol`` (CSV: epoch, train_loss, valid_loss, lr;
    rewritten every epoch).

    One unit trains every field in turn (the pipeline's units are simulations or whole
    stages); each field resumes on its own, exactly (:class:`~cmbml.nn.train_stage.NetworkTrain`),
    also under ``torchrun``.
    """

    name = "cmbnncs_train"
    inputs = (
        "cmbnncs_obs_plane",
        "cmbnncs_obs_plane_pol",
        "cmbnncs_cmb_plane",
        "cmbnncs_cmb_plane_pol",
        "cmbnncs_checkpoint",
        "cmbnncs_checkpoint_pol",
    )
    outputs = (
        "cmbnncs_checkpoint",
        "cmbnncs_checkpoint_pol",
        "cmbnncs_train_log",
        "cmbnncs_train_log_pol",
    )
    config_keys = tuple(
        f"model.cmbnncs.{key}"
        for key in (
            "network",
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

    def _dataset(self, prefix: str, field: str) -> PlaneDataset:
        sims = split_sims(self.cfg, prefix)
        obs, values = product("cmbnncs_obs_plane", field)
        cmb, _ = product("cmbnncs_cmb_plane", field)
        return PlaneDataset(
            existing_paths(self, obs, sims, **values), existing_paths(self, cmb, sims, **values)
        )

    def run(self) -> None:
        for field in self.fields():
            self._train(field)

    def _train(self, field: str) -> None:
        """Train (or resume, or skip when done) the network of Stokes ``field``."""
        mc = self.cfg.model.cmbnncs
        train_set, valid_set = self._dataset("Train", field), self._dataset("Valid", field)
        torch.manual_seed(seed_for(self.cfg, "weights", field))
        network = build_network(self.cfg, train_set.n_channels)
        config = TrainConfig.from_settings(
            mc,
            seed=seed_for(self.cfg, "shuffle", field),
            amp=bool(mc.amp),
            num_workers=int(mc.num_workers),
            checkpoint_epochs=checkpoint_epochs(self.cfg),
        )
        trainer = Trainer(network, train_set, valid_set, config, device=mc.device)
        files = [
            *train_set.feature_paths,
            *train_set.target_paths,
            *valid_set.feature_paths,
            *valid_set.target_paths,
        ]
        description = (
            f"{mc.network._target_} ({train_set.n_channels} inputs) on {len(train_set)} sims "
            f"({len(valid_set)} valid)"
        )
        self.fit_resumable(trainer, field, files, description)
