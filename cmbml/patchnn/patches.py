"""HEALPix patches: the sphere cut into square images along the NEST quad-tree (CMB-ML's PatchNN).

At ``nside`` every base pixel of the coarser grid ``nside // nside_patch`` holds
``nside_patch**2`` pixels whose NEST indices are contiguous; laid out by their position
``(x, y)`` in the base face they form a ``nside_patch x nside_patch`` image (row ``y``, column
``x``). Patches are ordered by the RING index of their base pixel, as CMB-ML's look-up table
(``cmbml/utils/patch_healpix.py`` on its ``archive-iccv2025`` branch). The look-up table is
computed by index arithmetic, and the round trip sphere -> patches -> sphere is exact.
"""

from __future__ import annotations

from functools import lru_cache

import healpy as hp
import numpy as np

__all__ = ["n_patches", "patch_index", "patches_to_sphere", "sphere_to_patches"]


def _check(nside: int, nside_patch: int) -> None:
    for name, value in (("nside", nside), ("nside_patch", nside_patch)):
        if value < 1 or value & (value - 1):
            raise ValueError(f"{name} must be a power of 2, got {value}")
    if nside_patch > nside:
        raise ValueError(f"nside_patch {nside_patch} exceeds the maps' nside {nside}")


def n_patches(nside: int, nside_patch: int) -> int:
    """Number of patches of a map at ``nside``: ``12 * (nside // nside_patch)**2``."""
    _check(nside, nside_patch)
    return 12 * (nside // nside_patch) ** 2


@lru_cache(maxsize=8)
def patch_index(nside: int, nside_patch: int) -> np.ndarray:
    """RING pixel of every patch pixel: ``(n_patches, nside_patch, nside_patch)`` int64.

    Entry ``[p, y, x]`` is the pixel at row ``y``, column ``x`` of patch ``p`` (read-only).
    """
    _check(nside, nside_patch)
    side = np.arange(nside_patch)
    y, x = np.meshgrid(side, side, indexing="ij")
    within = np.zeros_like(y)
    for bit in range(int(nside_patch).bit_length() - 1):  # NEST: x bits even, y bits odd
        within |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    coarse = nside // nside_patch
    base = hp.ring2nest(coarse, np.arange(12 * coarse**2)).astype(np.int64)
    nest = base[:, None, None] * nside_patch**2 + within[None]
    index = hp.nest2ring(nside, nest).astype(np.int64)
    index.setflags(write=False)
    return index


def sphere_to_patches(maps: np.ndarray, nside_patch: int) -> np.ndarray:
    """Cut RING maps ``(n, npix)`` (or ``(npix,)``) into patches ``(n_patches, n, p, p)``."""
    maps = np.asarray(maps)
    stack = maps[None] if maps.ndim == 1 else maps
    index = patch_index(hp.npix2nside(stack.shape[-1]), int(nside_patch))
    return np.ascontiguousarray(np.moveaxis(stack[:, index], 0, 1))


def patches_to_sphere(patches: np.ndarray) -> np.ndarray:
    """Reassemble patches ``(n_patches, n, p, p)`` into RING maps ``(n, npix)``."""
    patches = np.asarray(patches)
    if patches.ndim != 4 or patches.shape[-1] != patches.shape[-2]:
        raise ValueError(f"expected patches (n_patches, n, p, p), got shape {patches.shape}")
    count, side = patches.shape[0], patches.shape[-1]
    coarse = int(round(np.sqrt(count / 12)))
    if 12 * coarse**2 != count:
        raise ValueError(f"{count} patches do not tile a HEALPix sphere (12 * k**2 expected)")
    index = patch_index(coarse * side, side)
    maps = np.empty((patches.shape[1], 12 * (coarse * side) ** 2), dtype=patches.dtype)
    maps[:, index] = np.moveaxis(patches, 1, 0)
    return maps
