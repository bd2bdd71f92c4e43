"""CMBNNCS training and inference, independent of Hydra and of the pipeline.

Training follows cmbNNCS / CMB-ML: L1 loss, Adam, a learning rate decaying exponentially per
batch from ``lr`` to ``lr_min`` over the whole run, ``repeat_n`` optimiser steps on every batch.
A :class:`Trainer` checkpoint holds everything the run's future depends on (model, optimiser,
scheduler, AMP scaler, epoch, loss history and the torch / numpy / python / shuffling RNG
states), so a run resumed from epoch ``N`` continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from cmbml.cmbnncs.data import make_loader, select_device

__all__ = ["TrainConfig", "Trainer", "predict_batches"]

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training hyper-parameters.

    Attributes
    ----------
    num_epochs : int
        Number of passes over the training set.
    batch_size : int
        Simulations per batch (cmbNNCS: 12).
    repeat_n : int
        Optimiser steps taken on each batch (cmbNNCS: 3).
    lr, lr_min : float
        Learning rate of the first batch and after the last batch.
    seed : int
        Seed of the shuffling generator.
    amp : bool
        Mixed precision (float16 autocast + gradient scaling); honoured on CUDA only.
    num_workers : int
        DataLoader worker processes.
    checkpoint_epochs : sequence of int
        Epochs after which a checkpoint is written (epoch 0, the initial model, and the last
        epoch are always written).
    """

    num_epochs: int
    batch_size: int = 12
    repeat_n: int = 3
    lr: float = 1e-1
    lr_min: float = 1e-6
    seed: int = 0
    amp: bool = False
    num_workers: int = 0
    checkpoint_epochs: Sequence[int] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("num_epochs", "batch_size", "repeat_n"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.lr_min <= self.lr:
            raise ValueError(
                f"TrainConfig needs 0 < lr_min <= lr, got lr={self.lr}, lr_min={self.lr_min}"
            )


def _numpy_rng_state() -> dict:
    state = np.random.get_state(legacy=False)
    state["state"] = {"key": state["state"]["key"].tolist(), "pos": int(state["state"]["pos"])}
    return state


def _set_numpy_rng_state(state: dict) -> None:
    restored = dict(state)
    restored["state"] = {
        "key": np.asarray(state["state"]["key"], dtype=np.uint32),
        "pos": state["state"]["pos"],
    }
    np.random.set_state(restored)


class Trainer:
    """Train a network on (features, target) plane datasets.

    Parameters
    ----------
    model : torch.nn.Module
        The network (initialised by the caller; seed torch before building it).
    train_set, valid_set : torch.utils.data.Dataset
        Items ``(features, target)``; ``valid_set`` may be ``None`` (no validation loss).
    config : TrainConfig
    device : str or torch.device, optional
        ``None``: cuda, then mps, then cpu.
    """

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        valid_set: Dataset | None,
        config: TrainConfig,
        device: str | torch.device | None = None,
    ) -> None:
        if len(train_set) == 0:
            raise ValueError("Trainer got an empty training set")
        self.config = config
        self.device = select_device(device)
        self.amp = bool(config.amp) and self.device.type == "cuda"
        if config.amp and not self.amp:
            logger.warning("amp=True ignored: mixed precision is used on CUDA only")
        self.model = model.to(self.device)
        self.loss_fn = nn.L1Loss()
        self.generator = torch.Generator()
        self.generator.manual_seed(int(config.seed))
        self.train_loader = make_loader(
            train_set,
            config.batch_size,
            shuffle=True,
            generator=self.generator,
            num_workers=config.num_workers,
            device=self.device,
        )
        self.valid_loader = (
            None
            if valid_set is None or len(valid_set) == 0
            else make_loader(
                valid_set,
                config.batch_size,
                num_workers=config.num_workers,
                device=self.device,
            )
        )
        self.n_batches_total = config.num_epochs * len(self.train_loader)
        gamma = (config.lr_min / config.lr) ** (1.0 / self.n_batches_total)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=gamma)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.epoch = 0
        self.history: list[dict] = []

    @property
    def lr(self) -> float:
        """Learning rate of the next optimiser step."""
        return float(self.optimizer.param_groups[0]["lr"])

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=self.device.type == "cuda")

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp)

    def train_epoch(self) -> float:
        """One pass over the training set; returns the sample-weighted mean L1 loss.

        Each batch contributes the mean of its ``repeat_n`` step losses.
        """
        self.model.train()
        total, count = 0.0, 0
        for features, target in self.train_loader:
            features, target = self._to_device(features), self._to_device(target)
            batch_loss = 0.0
            for _ in range(self.config.repeat_n):
                self.optimizer.zero_grad(set_to_none=True)
                with self._autocast():
                    loss = self.loss_fn(self.model(features), target)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                batch_loss += loss.item()
            self.scheduler.step()
            total += batch_loss / self.config.repeat_n * features.shape[0]
            count += features.shape[0]
        return total / count

    @torch.no_grad()
    def evaluate(self) -> float:
        """Sample-weighted mean L1 loss on the validation set (eval mode); NaN without one."""
        if self.valid_loader is None:
            return float("nan")
        self.model.eval()
        total, count = 0.0, 0
        for features, target in self.valid_loader:
            features, target = self._to_device(features), self._to_device(target)
            with self._autocast():
                loss = self.loss_fn(self.model(features), target)
            total += loss.item() * features.shape[0]
            count += features.shape[0]
        return total / count

    def state_dict(self) -> dict:
        """Checkpoint of the run after ``self.epoch`` epochs.

        The tensors are the live ones (no copy): serialise the dict (``torch.save``) before
        training continues. Everything in it loads with ``torch.load(..., weights_only=True)``.
        """
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": [dict(row) for row in self.history],
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": _numpy_rng_state(),
                "python": random.getstate(),
                "loader": self.generator.get_state(),
            },
        }

    def load_state_dict(self, checkpoint: dict) -> None:
        """Restore a :meth:`state_dict` checkpoint (the run continues after its epoch)."""
        missing = {"epoch", "model", "optimizer", "scheduler", "rng"} - set(checkpoint)
        if missing:
            raise ValueError(f"CMBNNCS checkpoint lacks {sorted(missing)}")
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if "scaler" in checkpoint and checkpoint["scaler"]:
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.epoch = int(checkpoint["epoch"])
        self.history = [dict(row) for row in checkpoint.get("history", [])]
        rng = checkpoint["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        _set_numpy_rng_state(rng["numpy"])
        random.setstate(_as_python_state(rng["python"]))
        self.generator.set_state(rng["loader"])

    def fit(
        self,
        on_checkpoint: Callable[[int, dict], None] | None = None,
        on_epoch_end: Callable[[list[dict]], None] | None = None,
    ) -> list[dict]:
        """Train from ``self.epoch`` to ``config.num_epochs``.

        Parameters
        ----------
        on_checkpoint : callable, optional
            ``on_checkpoint(epoch, state)`` receives :meth:`state_dict` at epoch 0 (when the run
            starts fresh), at every epoch in ``config.checkpoint_epochs`` and at the last epoch.
        on_epoch_end : callable, optional
            ``on_epoch_end(history)`` after every epoch; ``history`` is the list of rows
            ``{"epoch", "train_loss", "valid_loss", "lr"}`` since epoch 1 (``lr``: learning rate
            after the epoch's last scheduler step).

        Returns
        -------
        list of dict
            The history.
        """
        cfg = self.config
        checkpoint_epochs = {int(e) for e in cfg.checkpoint_epochs} | {cfg.num_epochs}
        if self.epoch == 0 and on_checkpoint is not None:
            on_checkpoint(0, self.state_dict())
        while self.epoch < cfg.num_epochs:
            train_loss = self.train_epoch()
            valid_loss = self.evaluate()
            self.epoch += 1
            self.history.append(
                {
                    "epoch": self.epoch,
                    "train_loss": train_loss,
                    "valid_loss": valid_loss,
                    "lr": self.lr,
                }
            )
            logger.info(
                "epoch %d/%d: train L1 %.4e, valid L1 %.4e, lr %.3e",
                self.epoch,
                cfg.num_epochs,
                train_loss,
                valid_loss,
                self.lr,
            )
            if on_epoch_end is not None:
                on_epoch_end(self.history)
            if self.epoch in checkpoint_epochs and on_checkpoint is not None:
                on_checkpoint(self.epoch, self.state_dict())
        return self.history


def _as_python_state(state) -> tuple:
    version, internal, gauss = state
    return int(version), tuple(int(v) for v in internal), gauss


@torch.no_grad()
def predict_batches(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 12,
    device: str | torch.device | None = None,
    amp: bool = False,
    num_workers: int = 0,
) -> Iterator[np.ndarray]:
    """Run ``model`` in eval mode over ``dataset`` in order.

    Parameters
    ----------
    model : torch.nn.Module
    dataset : torch.utils.data.Dataset
        Items are feature tensors ``(C, H, W)`` or ``(features, target)`` tuples.
    batch_size : int, optional
    device : str or torch.device, optional
        ``None``: cuda, then mps, then cpu.
    amp : bool, optional
        float16 autocast (CUDA only).
    num_workers : int, optional

    Yields
    ------
    numpy.ndarray
        float32 predictions ``(batch, out_channels, H, W)``, in dataset order.
    """
    dev = select_device(device)
    model = model.to(dev).eval()
    use_amp = amp and dev.type == "cuda"
    loader = make_loader(dataset, batch_size, num_workers=num_workers, device=dev)
    for batch in loader:
        features = batch[0] if isinstance(batch, list | tuple) else batch
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=use_amp):
            out = model(features.to(dev))
        yield out.float().cpu().numpy()
