"""Residual power along the 12 HEALPix base-face edges against the sky average.

A network that sees the sphere as 12 separate faces (CMBNNCS's plane layout, PatchNN's
patches) puts sky neighbours far apart at the face edges and tends to err there. The score
``face_edge_ratio`` is the mean squared residual of the kept pixels within ``width`` pixels of
a face edge divided by that of every kept pixel: 1 when the edges are no worse than the sky.
"""

from __future__ import annotations

from functools import lru_cache

import healpy as hp
import numpy as np

__all__ = ["face_edge_pixels", "face_edge_ratio"]


@lru_cache(maxsize=8)
def face_edge_pixels(nside: int, width: int) -> np.ndarray:
    """RING pixels within ``width`` pixels of a base-face edge: bool ``(npix,)`` (read-only)."""
    if width < 1 or 2 * width > nside:
        raise ValueError(f"face edge width must be in [1, nside / 2 = {nside // 2}], got {width}")
    x, y, _ = hp.pix2xyf(nside, np.arange(hp.nside2npix(nside)))
    edge = np.minimum.reduce([x, y, nside - 1 - x, nside - 1 - y]) < width
    edge.setflags(write=False)
    return edge


def face_edge_ratio(residual: np.ndarray, good: np.ndarray, width: int) -> float:
    """Mean squared ``residual`` (RING ``(npix,)``) on the kept face-edge pixels over its mean
    on all kept pixels (``good``: bool ``(npix,)``)."""
    residual = np.asarray(residual, dtype=np.float64)
    edge = face_edge_pixels(hp.npix2nside(residual.size), int(width)) & good
    if not edge.any():
        raise ValueError("no kept pixel lies on a face edge")
    return float(np.mean(residual[edge] ** 2) / np.mean(residual[good] ** 2))
