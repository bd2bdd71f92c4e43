"""Data loaders and device selection of the network methods."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["FileDataset", "make_loader", "select_device"]


class FileDataset(Dataset):
    """A dataset of one feature file (and optionally one target file) per simulation.

    Parameters
    ----------
    feature_paths : sequence of path-like
    target_paths : sequence of path-like, optional
        As many as ``feature_paths``; without them, items are the features alone.
    """

    def __init__(
        self,
        feature_paths: Sequence[str | Path],
        target_paths: Sequence[str | Path] | None = None,
    ) -> None:
        self.feature_paths = [Path(p) for p in feature_paths]
        self.target_paths = None if target_paths is None else [Path(p) for p in target_paths]
        if self.target_paths is not None and len(self.target_paths) != len(self.feature_paths):
            raise ValueError(
                f"{type(self).__name__} got {len(self.feature_paths)} feature files but "
                f"{len(self.target_paths)} target files"
            )


def select_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve a torch device; ``None`` or ``"auto"`` picks cuda, then mps, then cpu.

    Parameters
    ----------
    device : str, torch.device or None
        Explicit device (``"cpu"``, ``"cuda:0"``...) or ``None``/``"auto"``.

    Returns
    -------
    torch.device
    """
    if device is not None and str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    sampler: Sampler | None = None,
    num_workers: int = 0,
    device: torch.device | None = None,
) -> DataLoader:
    """DataLoader with the project's settings.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
    batch_size : int
        Items per batch in this process.
    sampler : torch.utils.data.Sampler, optional
        Order of the items (e.g. a ``DistributedSampler``); default: dataset order.
    num_workers : int, optional
        Loader worker processes (0: load in the main process).
    device : torch.device, optional
        Target device; memory is pinned when it is CUDA.

    Returns
    -------
    torch.utils.data.DataLoader
    """
    pin = device is not None and torch.device(device).type == "cuda"
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin,
        persistent_workers=False,
    )
