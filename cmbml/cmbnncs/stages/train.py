"""Stage cmbnncs_train: train the CMBNNCS UNet on the Train split, validate on Valid."""

from __future__ import annotations

import pandas as pd
import torch

from cmbml.cmbnncs.data import PlaneDataset
from cmbml.cmbnncs.stages._common import (
    build_network,
    checkpoint_epochs,
    existing_paths,
    seed_for,
    split_sims,
)
from cmbml.cmbnncs.training import TrainConfig, Trainer
from cmbml.core import Stage


class CmbnncsTrain(Stage):
    """Train ``model.cmbnncs.network`` (L1 loss, Adam, per-batch exponential LR decay).

    Config: ``model.cmbnncs`` keys ``network``, ``detectors``, ``num_epochs``, ``batch_size``,
    ``repeat_n``, ``lr``, ``lr_min``, ``amp``, ``checkpoint_every``, ``checkpoint_epochs``
    (these define the result) and ``restart_epoch``, ``device``, ``num_workers`` (execution
    only: ``restart_epoch=N`` continues from checkpoint N exactly as the uninterrupted run).
    Reads ``cmbnncs_obs_plane`` and ``cmbnncs_cmb_plane`` of the Train* and Valid* splits.
    Writes ``cmbnncs_checkpoint`` (epoch 0 = init, configured epochs, last epoch) and
    ``cmbnncs_train_log`` (CSV: epoch, train_loss, valid_loss, lr; rewritten every epoch).
    """

    name = "cmbnncs_train"
    inputs = ("cmbnncs_obs_plane", "cmbnncs_cmb_plane", "cmbnncs_checkpoint")
    outputs = ("cmbnncs_checkpoint", "cmbnncs_train_log")
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
            "amp",
            "checkpoint_every",
            "checkpoint_epochs",
        )
    )
    per_sim = False
    splits = ("Train", "Valid")
    covers_units = True

    def _dataset(self, prefix: str) -> PlaneDataset:
        sims = split_sims(self.cfg, prefix)
        return PlaneDataset(
            existing_paths(self, "cmbnncs_obs_plane", sims),
            existing_paths(self, "cmbnncs_cmb_plane", sims),
        )

    def run(self) -> None:
        mc = self.cfg.model.cmbnncs
        train_set, valid_set = self._dataset("Train"), self._dataset("Valid")
        torch.manual_seed(seed_for(self.cfg, "weights"))
        network = build_network(self.cfg)
        config = TrainConfig(
            num_epochs=int(mc.num_epochs),
            batch_size=int(mc.batch_size),
            repeat_n=int(mc.repeat_n),
            lr=float(mc.lr),
            lr_min=float(mc.lr_min),
            seed=seed_for(self.cfg, "shuffle"),
            amp=bool(mc.amp),
            num_workers=int(mc.num_workers),
            checkpoint_epochs=checkpoint_epochs(self.cfg),
        )
        trainer = Trainer(network, train_set, valid_set, config, device=mc.device)
        if mc.restart_epoch is not None:
            restart = int(mc.restart_epoch)
            self.log.info("restarting from the checkpoint of epoch %d", restart)
            trainer.load_state_dict(self.read("cmbnncs_checkpoint", epoch=restart))
        self.log.info(
            "training %s on %d sims (%d valid), %d epochs, device %s",
            mc.network._target_,
            len(train_set),
            len(valid_set),
            config.num_epochs,
            trainer.device,
        )
        trainer.fit(
            on_checkpoint=lambda epoch, state: self.write("cmbnncs_checkpoint", state, epoch=epoch),
            on_epoch_end=lambda history: self.write("cmbnncs_train_log", pd.DataFrame(history)),
        )
