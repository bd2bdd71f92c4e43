"""Training and inference of the network methods, independent of Hydra and of the pipeline.

Training follows cmbNNCS / CMB-ML: L1 loss, Adam, a learning rate decaying exponentially from
``lr`` to ``lr_min`` over the whole run (per batch as CMB-ML, or per epoch), ``repeat_n``
optimiser steps on every batch. A :class:`Trainer` checkpoint holds everything the run's future
depends on (model, optimiser, scheduler, AMP scaler, epoch, loss history, RNG states); the
shuffling order is a function of the seed and the epoch, so a run resumed from epoch ``N``
continues exactly as the uninterrupted run would.

In a process group of ``N`` processes (``torchrun``, see :mod:`cmbml.nn.ddp`) the model is
wrapped in ``DistributedDataParallel`` with synchronised BatchNorm and every global batch of
``batch_size`` simulations is split into ``N`` equal parts (a ``DistributedSampler`` over the
same permutation), so the run equals the single-process one up to float rounding whenever
``N`` divides the number of training simulations.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler, Subset
from tqdm import tqdm

from cmbml.nn import ddp
from cmbml.nn.data import make_loader, select_device

__all__ = ["LR_DECAYS", "TrainConfig", "Trainer", "predict_batches"]

logger = logging.getLogger(__name__)

#: Learning-rate decays: ``batch`` multiplies the rate by a constant after every batch (cmbNNCS,
#: CMB-ML), ``epoch`` after every epoch; both go from ``lr`` to ``lr_min`` over the run.
LR_DECAYS = ("batch", "epoch")


@dataclass
class TrainConfig:
    """Training hyper-parameters.

    Attributes
    ----------
    num_epochs : int
        Number of passes over the training set.
    batch_size : int
        Simulations per optimiser step, all processes together (cmbNNCS: 12).
    repeat_n : int
        Optimiser steps taken on each batch (cmbNNCS: 3).
    lr, lr_min : float
        Learning rate of the first step and after the last one.
    lr_decay : {"batch", "epoch"}
        ``"batch"``: exponential decay stepped after every batch (cmbNNCS / CMB-ML); its rate per
        batch depends on the number of batches per epoch. ``"epoch"``: stepped after every
        epoch, so the rate of epoch ``e`` is ``lr * (lr_min / lr) ** (e / num_epochs)`` whatever
        the size of the training split.
    seed : int
        Seed of the shuffling order (epoch ``e`` uses the permutation seeded ``seed + e``).
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
    lr_decay: str = "batch"
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
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(
                f"TrainConfig.lr_decay must be one of {LR_DECAYS}, got {self.lr_decay!r}"
            )

    @classmethod
    def from_settings(cls, settings: Mapping, **overrides) -> TrainConfig:
        """The optimisation schedule of a ``model.<method>`` settings mapping (``num_epochs``,
        ``batch_size``, ``repeat_n``, ``lr``, ``lr_min``, ``lr_decay``), plus ``overrides``
        (``seed``, ``amp``, ``num_workers``, ``checkpoint_epochs``)."""
        return cls(
            num_epochs=int(settings["num_epochs"]),
            batch_size=int(settings["batch_size"]),
            repeat_n=int(settings["repeat_n"]),
            lr=float(settings["lr"]),
            lr_min=float(settings["lr_min"]),
            lr_decay=str(settings["lr_decay"]),
            **overrides,
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
    """Train a network on (features, target) plane datasets, in one process or data-parallel.

    Parameters
    ----------
    model : torch.nn.Module
        The network (initialised by the caller; seed torch before building it).
    train_set, valid_set : torch.utils.data.Dataset
        Items ``(features, target)``; ``valid_set`` may be ``None`` (no validation loss).
    config : TrainConfig
    device : str or torch.device, optional
        ``None``: cuda, then mps, then cpu. In a process group on CUDA, each process uses its
        current CUDA device (set from ``LOCAL_RANK`` by the launcher's process group).

    Notes
    -----
    With a default process group of ``N > 1`` processes, ``config.batch_size`` must be a
    multiple of ``N``; every process must build the trainer with the same arguments. Callbacks
    of :meth:`fit` run on rank 0 only.
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
        self.rank, self.world_size = ddp.world()
        self.device = select_device(device)
        if self.world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.amp = bool(config.amp) and self.device.type == "cuda"
        if config.amp and not self.amp:
            logger.warning("amp=True ignored: mixed precision is used on CUDA only")
        if config.batch_size % self.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} (the global batch) must be a multiple of the "
                f"number of processes, {self.world_size}"
            )
        if len(train_set) % self.world_size:
            logger.warning(
                "%d training simulations do not split evenly over %d processes: the "
                "DistributedSampler repeats a few per epoch, so the run differs slightly from a "
                "single-process one",
                len(train_set),
                self.world_size,
            )
        self.module = model.to(self.device)
        self.model: nn.Module = self.module
        if self.world_size > 1:
            self.module = ddp.synchronise_batch_norm(self.module, self.device).to(self.device)
            self.model = DistributedDataParallel(
                self.module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )
        self.loss_fn = nn.L1Loss()
        self.sampler = DistributedSampler(
            train_set,
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=True,
            seed=int(config.seed),
        )
        self.train_loader = make_loader(
            train_set,
            config.batch_size // self.world_size,
            sampler=self.sampler,
            num_workers=config.num_workers,
            device=self.device,
        )
        self.valid_loader = None
        if valid_set is not None and len(valid_set) > 0:
            mine = Subset(valid_set, range(self.rank, len(valid_set), self.world_size))
            self.valid_loader = make_loader(
                mine,
                max(1, config.batch_size // self.world_size),
                num_workers=config.num_workers,
                device=self.device,
            )
        per_epoch = len(self.train_loader) if config.lr_decay == "batch" else 1
        self.n_decay_steps = config.num_epochs * per_epoch
        ratio = config.lr_min / config.lr
        total = self.n_decay_steps
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: ratio ** (step / total)
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.epoch = 0
        self.history: list[dict] = []

    @property
    def lr(self) -> float:
        """Learning rate of the next optimiser step."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0 (the one that logs and writes)."""
        return self.rank == 0

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=self.device.type == "cuda")

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp)

    def train_epoch(self) -> float:
        """One pass over the training set; returns the sample-weighted mean L1 loss.

        Each batch contributes the mean of its ``repeat_n`` step losses; in a process group the
        mean covers the samples of every process.
        """
        self.model.train()
        self.sampler.set_epoch(self.epoch)
        total, count = 0.0, 0
        batches = tqdm(
            self.train_loader,
            desc=f"epoch {self.epoch + 1}",
            unit="batch",
            leave=False,
            disable=None if self.is_main else True,
        )
        for features, target in batches:
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
            if self.config.lr_decay == "batch":
                self.scheduler.step()
            total += batch_loss / self.config.repeat_n * features.shape[0]
            count += features.shape[0]
        if self.config.lr_decay == "epoch":
            self.scheduler.step()
        total, count = ddp.all_sum([total, count])
        return total / count

    @torch.no_grad()
    def evaluate(self) -> float:
        """Sample-weighted mean L1 loss on the validation set (eval mode); NaN without one."""
        if self.valid_loader is None:
            return float("nan")
        self.module.eval()
        total, count = 0.0, 0
        for features, target in self.valid_loader:
            features, target = self._to_device(features), self._to_device(target)
            with self._autocast():
                loss = self.loss_fn(self.module(features), target)
            total += loss.item() * features.shape[0]
            count += features.shape[0]
        total, count = ddp.all_sum([total, count])
        return total / count

    def state_dict(self) -> dict:
        """Checkpoint of the run after ``self.epoch`` epochs (loadable with any process count;
        ``world_size`` records how many processes trained it).

        The tensors are the live ones (no copy): serialise the dict (``torch.save``) before
        training continues. Everything in it loads with ``torch.load(..., weights_only=True)``.
        """
        return {
            "epoch": self.epoch,
            "world_size": self.world_size,
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": [dict(row) for row in self.history],
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": _numpy_rng_state(),
                "python": random.getstate(),
            },
        }

    def load_state_dict(self, checkpoint: dict) -> None:
        """Restore a :meth:`state_dict` checkpoint (the run continues after its epoch)."""
        missing = {"epoch", "model", "optimizer", "scheduler", "rng"} - set(checkpoint)
        if missing:
            raise ValueError(f"training checkpoint lacks {sorted(missing)}")
        self.module.load_state_dict(checkpoint["model"])
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
            Rank 0 only.
        on_epoch_end : callable, optional
            ``on_epoch_end(history)`` after every epoch; ``history`` is the list of rows
            ``{"epoch", "train_loss", "valid_loss", "lr"}`` since epoch 1 (``lr``: learning rate
            after the epoch's last scheduler step). Rank 0 only.

        Returns
        -------
        list of dict
            The history.
        """
        cfg = self.config
        checkpoint_epochs = {int(e) for e in cfg.checkpoint_epochs} | {cfg.num_epochs}
        if not self.is_main:
            on_checkpoint = on_epoch_end = None
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
            if self.is_main:
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
