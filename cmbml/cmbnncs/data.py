"""PyTorch data access for CMBNNCS: plane datasets (loaders and devices: :mod:`cmbml.nn.data`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from cmbml.nn.data import FileDataset

__all__ = ["PlaneDataset"]

logger = logging.getLogger(__name__)


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


class PlaneDataset(FileDataset):
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
