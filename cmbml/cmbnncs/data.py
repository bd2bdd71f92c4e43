"""PyTorch data access for CMBNNCS: plane datasets, loaders, device selection."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["PlaneDataset", "make_loader", "select_device"]

logger = logging.getLogger(__name__)


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


def _load_plane(path: Path, what: str) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"CMBNNCS {what} plane file not found: {path}") from err
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"{path}: expected a {what} array of shape (channels, 4*nside, 3*nside), "
            f"got {arr.shape}"
        )
    return arr


class PlaneDataset(Dataset):
    """Simulations stored as preprocessed planes, one ``.npy`` file per simulation.

    Files are memory-mapped on access, so the dataset holds only paths and pickles cheaply to
    DataLoader workers.

    Parameters
    ----------
    feature_paths : sequence of path-like
        One file per simulation, array ``(n_detectors, 4*nside, 3*nside)`` (scaled uK_CMB).
    target_paths : sequence of path-like, optional
        One file per simulation, array ``(1, 4*nside, 3*nside)`` or ``(4*nside, 3*nside)``.
        Without targets, items are the feature tensors alone.

    Notes
    -----
    Items are float32 tensors: ``(features, target)`` of shapes ``(C, H, W)`` and ``(1, H, W)``,
    or ``features`` alone.
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
                f"PlaneDataset got {len(self.feature_paths)} feature files but "
                f"{len(self.target_paths)} target files"
            )

    def __len__(self) -> int:
        return len(self.feature_paths)

    @property
    def n_channels(self) -> int:
        """Input channels (detectors) of the first simulation's features."""
        if not self.feature_paths:
            raise ValueError("PlaneDataset.n_channels of an empty dataset")
        return int(_load_plane(self.feature_paths[0], "feature").shape[0])

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = _load_plane(self.feature_paths[index], "feature")
        x = torch.from_numpy(np.array(features, dtype=np.float32))
        if self.target_paths is None:
            return x
        target = _load_plane(self.target_paths[index], "target")
        if target.shape[-2:] != features.shape[-2:]:
            raise ValueError(
                f"{self.target_paths[index]}: target plane shape {target.shape[-2:]} differs "
                f"from the features' {features.shape[-2:]} in {self.feature_paths[index]}"
            )
        y = torch.from_numpy(np.array(target, dtype=np.float32))
        return x, y


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
