"""A PyTorch dataset of items stacked in one ``.npy`` file per simulation (patches, maps)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cmbml.nn.data import FileDataset

__all__ = ["StackDataset"]


def _load(path: Path, what: str) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{what} file not found: {path}") from err
    if arr.ndim < 3:
        raise ValueError(
            f"{path}: expected {what} items of shape (n_items, channels, ...), got {arr.shape}"
        )
    return arr


class StackDataset(FileDataset):
    """Items stacked one ``.npy`` file per simulation, ``(n_items, channels, ...)``: the
    patches of PatchNN ``(n_patches, channels, p, p)``, the one NEST map stack of DeepSphere
    ``(1, channels, npix)``.

    Item ``i`` is item ``i % n_items`` of simulation ``i // n_items`` (every file holds as many
    items as the first); files are memory-mapped on access, so the dataset holds only paths.

    Parameters
    ----------
    feature_paths : sequence of path-like
        Inputs (scaled uK_CMB), ``n_detectors`` channels.
    target_paths : sequence of path-like, optional
        Targets (scaled CMB), one channel. Without targets, items are the features alone.
    """

    def __init__(
        self,
        feature_paths: Sequence[str | Path],
        target_paths: Sequence[str | Path] | None = None,
    ) -> None:
        super().__init__(feature_paths, target_paths)
        first = _load(self.feature_paths[0], "feature") if self.feature_paths else None
        self.n_items = 0 if first is None else int(first.shape[0])
        self.n_channels = 0 if first is None else int(first.shape[1])

    def __len__(self) -> int:
        return len(self.feature_paths) * self.n_items

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        sim, item = divmod(int(index), self.n_items)
        features = _load(self.feature_paths[sim], "feature")
        x = torch.from_numpy(np.array(features[item], dtype=np.float32))
        if self.target_paths is None:
            return x
        target = _load(self.target_paths[sim], "target")
        if target.shape[0] != features.shape[0] or target.shape[2:] != features.shape[2:]:
            raise ValueError(
                f"{self.target_paths[sim]}: target items {target.shape} do not match the "
                f"features {features.shape} of {self.feature_paths[sim]}"
            )
        return x, torch.from_numpy(np.array(target[item], dtype=np.float32))
