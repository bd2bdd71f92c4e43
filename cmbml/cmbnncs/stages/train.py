"""Stage cmbnncs_train: train one CMBNNCS UNet per Stokes field on Train, validate on Valid."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

from cmbml.cmbnncs import ddp
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
from cmbml.cmbnncs.training import TrainConfig, Trainer

#: Checkpoint key holding the resume key of the run that wrote it.
RESUME_KEY = "resume_key"


class CmbnncsTrain(CmbnncsStage):
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
    stages); each field resumes on its own. Every checkpoint stores
    :meth:`~cmbml.core.Stage.resume_key` of the files its field's training reads, which changes
    with the stage config and with those files. A rerun after an interruption skips the fields
    whose last checkpoint has this run's key and continues the others from their latest
    checkpoint with this run's key, exactly as the uninterrupted run; checkpoints with another
    key are ignored and overwritten. ``restart_epoch=N`` continues every field from its
    checkpoint ``N`` whatever its key; ``pipeline.force=true`` trains every field from epoch 0.

    Distributed (``distributed = True``): under ``torchrun`` every rank runs this stage and
    trains the fields in the same order; each trains on its share of every batch and rank 0
    alone decides where each field resumes and writes.
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
    per_sim = False
    splits = ("Train", "Valid")
    covers_units = True
    distributed = True

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
        checkpoint_name, values = product("cmbnncs_checkpoint", field)
        log_name, _ = product("cmbnncs_train_log", field)
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
        key, start, checkpoint = None, None, None
        if ddp.is_main():
            key = self.resume_key(
                [
                    *train_set.feature_paths,
                    *train_set.target_paths,
                    *valid_set.feature_paths,
                    *valid_set.target_paths,
                ]
            )
            start, checkpoint = self._resume_from(key, mc.restart_epoch, field)
        start = ddp.broadcast(start)
        if start is not None:
            if checkpoint is None:  # ranks > 0 load what rank 0 chose
                path = self.path(checkpoint_name, epoch=start, **values)
                checkpoint = self._load_checkpoint(path)
            trainer.load_state_dict(checkpoint)
        if ddp.is_main():
            self.log.info(
                "%s: training %s (%d inputs) on %d sims (%d valid), epochs %d-%d, "
                "%d process(es), device %s",
                field,
                mc.network._target_,
                train_set.n_channels,
                len(train_set),
                len(valid_set),
                trainer.epoch + 1,
                config.num_epochs,
                trainer.world_size,
                trainer.device,
            )

        def save(epoch: int, state: dict) -> None:
            self.write(checkpoint_name, {**state, RESUME_KEY: key}, epoch=epoch, **values)

        def log_epochs(history: list[dict]) -> None:
            self.write(log_name, pd.DataFrame(history), **values)

        began = time.perf_counter()
        trainer.fit(on_checkpoint=save, on_epoch_end=log_epochs)
        if ddp.is_main():
            if start == config.num_epochs:  # finished before an interruption
                log_epochs(trainer.history)
            self.log.info(
                "%s: epochs %d-%d took %.1f s",
                field,
                (start or 0) + 1,
                config.num_epochs,
                time.perf_counter() - began,
            )

    def _load_checkpoint(self, path: Path, *, mmap: bool = False) -> dict:
        return torch.load(path, map_location="cpu", mmap=mmap, weights_only=True)

    def _stored_key(self, path: Path) -> str | None:
        """The resume key of the checkpoint at ``path`` (None if it has none or is unreadable)."""
        try:
            checkpoint = self._load_checkpoint(path, mmap=True)
        except Exception as exc:  # a truncated or foreign file is not resumable
            self.log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
            return None
        return checkpoint.get(RESUME_KEY) if isinstance(checkpoint, dict) else None

    def _resume_from(self, key: str, restart_epoch, field: str) -> tuple[int | None, dict | None]:
        """(epoch, checkpoint) of Stokes ``field`` to continue from: ``restart_epoch``, else the
        latest checkpoint of this run's epochs that has ``key``; (None, None) to start fresh."""
        name, values = product("cmbnncs_checkpoint", field)
        if restart_epoch is not None:
            epoch = int(restart_epoch)
            checkpoint = self.read(name, epoch=epoch, **values)
            if checkpoint.get(RESUME_KEY) != key:
                self.log.warning(
                    "%s: restart_epoch=%d: its checkpoint was written under another config or "
                    "from other training files; continuing from it as asked",
                    field,
                    epoch,
                )
            self.log.info("%s: restarting from the checkpoint of epoch %d", field, epoch)
            return epoch, checkpoint
        if self.cfg.pipeline.get("force", False):
            self.log.info("pipeline.force: training %s from epoch 0", field)
            return None, None
        epochs = sorted(checkpoint_epochs(self.cfg), reverse=True)
        paths = {epoch: self.path(name, epoch=epoch, **values) for epoch in epochs}
        keys = {e: self._stored_key(p) for e, p in paths.items() if p.exists()}
        resumable = [epoch for epoch in epochs if keys.get(epoch) == key]
        if not resumable:
            if keys:
                self.log.info(
                    "%s: starting afresh: the checkpoints of epochs %s were written under "
                    "another config or from other training files",
                    field,
                    sorted(keys),
                )
            return None, None
        start = resumable[0]
        for epoch in sorted(keys):
            if epoch > start:
                continue  # overwritten as training proceeds
            if keys[epoch] == key:
                self.written.append(paths[epoch])  # an output of this unit's earlier attempt
            else:
                self.log.info("removing %s: written under another config", paths[epoch])
                paths[epoch].unlink()
        self.log.info(
            "%s: resuming from the checkpoint of epoch %d (%s)", field, start, paths[start]
        )
        return start, self._load_checkpoint(paths[start])
