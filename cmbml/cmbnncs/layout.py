"""HEALPix sphere <-> plane rearrangement used by CMBNNCS.

The 12 HEALPix base faces (each ``nside x nside`` pixels) are tiled into one image of shape
``(4 * nside, 3 * nside)``. Row blocks, top to bottom, hold the faces

    [2, 6, 9]
    [3, 7, 10]
    [0, 4, 11]
    [1, 5, 8]

Inside a face, cmbNNCS fills an ``nside x nside`` array with the NEST quad-tree ordinals
(``[[3, 1], [2, 0]]`` expanded recursively) and transposes it. In HEALPix face coordinates
(``ix``, ``iy``; NEST index = bit interleave of ``ix`` (even bits) and ``iy`` (odd bits)) this
puts the pixel ``(ix, iy)`` at face row ``nside - 1 - iy`` and face column ``nside - 1 - ix``.

The rearrangement is a permutation of the pixels, computed once per ``nside`` with integer
arithmetic (no healpy calls). Inside a face each anti-diagonal of the plane is a contiguous
stretch of one HEALPix ring, so the permutation is applied to any number of maps as about
``24 * nside`` strided slice copies.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["FACE_BLOCKS", "plane_to_sphere", "plane_ring_index", "sphere_to_plane"]

FACE_BLOCKS = ((2, 6, 9), (3, 7, 10), (0, 4, 11), (1, 5, 8))
"""Base face in each (row block, column block) of the plane."""

# HEALPix face geometry (Gorski et al. 2005): ring number of the face's southernmost corner in
# units of nside, and the longitude index of the face centre.
_JRLL = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], dtype=np.int64)
_JPLL = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)


def _check_nside(nside: int) -> int:
    nside = int(nside)
    if nside < 1 or nside & (nside - 1):
        raise ValueError(f"nside must be a positive power of 2, got {nside}")
    return nside


def _xyf_to_ring(ix: np.ndarray, iy: np.ndarray, face: np.ndarray, nside: int) -> np.ndarray:
    """RING index of the pixel with face coordinates ``(ix, iy)`` in base face ``face``."""
    nl4 = 4 * nside
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    jr = _JRLL[face] * nside - ix - iy - 1  # ring number, 1 .. 4*nside - 1

    north = jr < nside
    south = jr > 3 * nside
    nr = np.where(north, jr, np.where(south, nl4 - jr, nside))
    n_before = np.where(
        north,
        2 * nr * (nr - 1),
        np.where(south, npix - 2 * (nr + 1) * nr, ncap + (jr - nside) * nl4),
    )
    kshift = np.where(north | south, 0, (jr - nside) & 1)
    jp = (_JPLL[face] * nr + ix - iy + 1 + kshift) // 2
    jp = np.where(jp > nl4, jp - nl4, np.where(jp < 1, jp + nl4, jp))
    return n_before + jp - 1


def plane_ring_index(nside: int) -> np.ndarray:
    """RING pixel index shown at each plane position.

    Parameters
    ----------
    nside : int
        HEALPix resolution (power of 2).

    Returns
    -------
    numpy.ndarray
        int64 array of shape ``(4 * nside, 3 * nside)``; ``plane[r, c]`` of
        :func:`sphere_to_plane` is ``map[index[r, c]]``.
    """
    nside = _check_nside(nside)
    rows, cols = np.indices((4 * nside, 3 * nside), dtype=np.int64)
    face = np.asarray(FACE_BLOCKS, dtype=np.int64)[rows // nside, cols // nside]
    ix = nside - 1 - cols % nside
    iy = nside - 1 - rows % nside
    return _xyf_to_ring(ix, iy, face, nside)


@functools.lru_cache(maxsize=8)
def _runs(nside: int) -> tuple[tuple[int, int, int], ...]:
    """The permutation as runs ``(plane_start, ring_start, length)``.

    Inside a face, an anti-diagonal of the plane (down-left steps, flat stride ``3*nside - 1``)
    is a contiguous stretch of one HEALPix ring, so the rearrangement is ~``24 * nside`` strided
    slice copies: far fewer memory accesses than a gather through an index table.
    """
    index = plane_ring_index(nside)
    height, width = index.shape
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    # continues[i, j]: (i, j) follows (i-1, j+1) in the same face and the next ring pixel
    continues = np.zeros((height, width), dtype=bool)
    continues[1:, :-1] = (
        (index[1:, :-1] == index[:-1, 1:] + 1)
        & (rows[1:] % nside != 0)
        & (cols[:, :-1] % nside != nside - 1)
    )
    ends = np.ones((height, width), dtype=bool)
    ends[:-1, 1:] = ~continues[1:, :-1]
    start_i, start_j = np.nonzero(~continues)
    end_i, end_j = np.nonzero(ends)
    # pair starts and ends along each anti-diagonal, ordered by (i + j, i)
    start_order = np.lexsort((start_i, start_i + start_j))
    end_order = np.lexsort((end_i, end_i + end_j))
    start_i, start_j = start_i[start_order], start_j[start_order]
    lengths = end_i[end_order] - start_i + 1
    plane_start = start_i * width + start_j
    ring_start = index[start_i, start_j]
    return tuple(zip(plane_start.tolist(), ring_start.tolist(), lengths.tolist(), strict=True))


def sphere_to_plane(maps: np.ndarray) -> np.ndarray:
    """Rearrange RING-ordered HEALPix maps into CMBNNCS planes.

    Parameters
    ----------
    maps : array_like
        RING maps of shape ``(..., npix)`` with ``npix = 12 * nside**2``; any unit and dtype
        (both preserved).

    Returns
    -------
    numpy.ndarray
        Planes of shape ``(..., 4 * nside, 3 * nside)``.
    """
    maps = np.asarray(maps)
    if maps.ndim < 1:
        raise ValueError("sphere_to_plane expects maps of shape (..., npix), got a scalar")
    npix = maps.shape[-1]
    nside = int(round(np.sqrt(npix / 12)))
    if 12 * nside * nside != npix:
        raise ValueError(f"last axis of length {npix} is not a HEALPix npix = 12 * nside**2")
    nside = _check_nside(nside)
    flat = maps.reshape(-1, npix)
    planes = np.empty_like(flat)
    step = 3 * nside - 1
    for plane_start, ring_start, length in _runs(nside):
        planes[:, plane_start : plane_start + (length - 1) * step + 1 : step] = flat[
            :, ring_start : ring_start + length
        ]
    return planes.reshape(*maps.shape[:-1], 4 * nside, 3 * nside)


def plane_to_sphere(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`sphere_to_plane`.

    Parameters
    ----------
    planes : array_like
        Planes of shape ``(..., 4 * nside, 3 * nside)``.

    Returns
    -------
    numpy.ndarray
        RING maps of shape ``(..., 12 * nside**2)``, same dtype.
    """
    planes = np.asarray(planes)
    if planes.ndim < 2:
        raise ValueError(
            f"plane_to_sphere expects planes of shape (..., 4*nside, 3*nside), got {planes.shape}"
        )
    height, width = planes.shape[-2:]
    nside = width // 3
    if width != 3 * nside or height != 4 * nside:
        raise ValueError(
            f"plane shape {(height, width)} is not (4*nside, 3*nside) for any integer nside"
        )
    nside = _check_nside(nside)
    flat = planes.reshape(-1, height * width)
    maps = np.empty_like(flat)
    step = 3 * nside - 1
    for plane_start, ring_start, length in _runs(nside):
        maps[:, ring_start : ring_start + length] = flat[
            :, plane_start : plane_start + (length - 1) * step + 1 : step
        ]
    return maps.reshape(*planes.shape[:-2], height * width)
