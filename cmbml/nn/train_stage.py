"""The training stage of a network method: one network per Stokes field, exact automatic resume.

A method's train stage derives from :class:`NetworkTrain`, builds its datasets, network and
:class:`~cmbml.nn.training.Trainer` for each field, and hands the trainer to
:meth:`NetworkTrain.fit_resumable`, which writes the checkpoints (catalog entries
``<method>_checkpoint`` / ``<method>_checkpoint_pol``) and the training log
(``<method>_train_log`` / ``<method>_train_log_pol``) and resumes an interrupted run exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from cmbml.nn import ddp
from cmbml.nn.fields import NetworkStage, checkpoint_epochs, product, seed_for
from cmbml.nn.training import TrainConfig, Trainer

__all__ = ["RESUME_KEY", "TRAIN_KEYS", "NetworkTrain"]

#: Checkpoint key holding the resume key of the run that wrote it.
RESUME_KEY = "resume_key"

#: Settings of ``model.<method>`` that define a trained network.
TRAIN_KEYS = (
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


class NetworkTrain(NetworkStage):
    """Base of the train stages: checkpoints, training log and automatic exact resume.

    Every checkpoint stores :meth:`~cmbml.core.Stage.resume_key` of the files its field's
    training reads, which changes with the stage config and with those files. A rerun after an
    interruption skips the fields whose last checkpoint has this run's key and continues the
    others from their latest checkpoint with this run's key, exactly as the uninterrupted run;
    checkpoints with another key are ignored and overwritten. ``model.<method>.restart_epoch=N``
    continues every field from its checkpoint ``N`` whatever its key; ``pipeline.force=true``
    trains every field from epoch 0.

    Distributed (``distributed = True``): under ``torchrun`` every rank runs the stage and
    trains the fields in the same order; each trains on its share of every batch and rank 0
    alone decides where each field resumes and writes.
    """

    per_sim = False
    splits = ("Train", "Valid")
    covers_units = True
    distributed = True

    def train_field(
        self, field: str, train_set, valid_set, build: Callable[[int], nn.Module]
    ) -> list[dict]:
        """Seed, build and train the network of Stokes ``field`` with ``model.<method>``'s
        schedule (:meth:`fit_resumable`).

        Parameters
        ----------
        field : str
        train_set, valid_set : torch.utils.data.Dataset
            With ``n_channels``, ``feature_paths`` and ``target_paths``.
        build : callable
            ``build(in_channels)`` returns the untrained network (called after seeding torch).
        """
        settings = self.model
        torch.manual_seed(seed_for(self.cfg, self.method, "weights", field))
        network = build(train_set.n_channels)
        config = TrainConfig.from_settings(
            settings,
            seed=seed_for(self.cfg, self.method, "shuffle", field),
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
            f"{settings.network._target_} ({train_set.n_channels} inputs) on {len(train_set)} "
            f"items of {len(train_set.feature_paths)} sims ({len(valid_set)} valid)"
        )
        return self.fit_resumable(trainer, field, files, description)

    def fit_resumable(
        self, trainer: Trainer, field: str, key_paths: Iterable[Path], description: str
    ) -> list[dict]:
        """Train ``trainer`` (the network of Stokes ``field``) to its last epoch, resuming
        from this run's latest checkpoint, writing checkpoints and the log as it goes.

        Parameters
        ----------
        trainer : Trainer
            Built by every rank with the same arguments.
        field : str
            ``"I"``, ``"Q"`` or ``"U"``.
        key_paths : iterable of Path
            The files the training reads (their fingerprints join the resume key).
        description : str
            What is trained, for the log (network, inputs, simulations).

        Returns
        -------
        list of dict
            The training history (rank 0; other ranks: their own copy).
        """
        config = trainer.config
        checkpoint_name, values = product(f"{self.method}_checkpoint", field)
        log_name, _ = product(f"{self.method}_train_log", field)
        key, start, checkpoint = None, None, None
        if ddp.is_main():
            key = self.resume_key(list(key_paths))
            start, checkpoint = self._resume_from(key, self.model.restart_epoch, field)
        start = ddp.broadcast(start)
        if start is not None:
            if checkpoint is None:  # ranks > 0 load what rank 0 chose
                path = self.path(checkpoint_name, epoch=start, **values)
                checkpoint = self._load_checkpoint(path)
            trainer.load_state_dict(checkpoint)
        if ddp.is_main():
            self.log.info(
                "%s: training %s, epochs %d-%d, %d process(es), device %s",
                field,
                description,
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
        history = trainer.fit(on_checkpoint=save, on_epoch_end=log_epochs)
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
        return history

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
        name, values = product(f"{self.method}_checkpoint", field)
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
        epochs = sorted(checkpoint_epochs(self.model), reverse=True)
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
