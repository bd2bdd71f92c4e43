"""HEALPix pixel window functions computed locally, with a shipped table.

``healpy.pixwin`` downloads its tables at run time, which fails offline. The window is defined by
W_l^2 = < (4 pi / (2l + 1)) sum_m |<Y_lm>_p|^2 >_p, the mean over pixels p of the power of the
top-hat average over one pixel. By the addition theorem this is the mean over pixels of the
average of P_l(cos theta) over pairs of points inside the same pixel. Each pixel is sampled on its
sub-pixels at ``nside * s``; the weighted histogram of pair separations is projected on the
Legendre polynomials, and the results for s = 8 and 16 are extrapolated in 1 / s^2 to the
continuum. Pixels in one ring of the equatorial belt are congruent, so one per ring suffices
there; in the polar caps several pixels per ring are sampled across a quadrant.

``python -m cmbml.pixwin`` regenerates the table ``cmbml/data/pixel_window.npz``
(nside 1 ... 2048, l <= 3 nside - 1); :func:`pixel_window` reads it and computes other
resolutions on demand.
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

import healpy as hp
import numpy as np

__all__ = ["compute_pixel_window", "legendre_table", "pixel_window"]

TABLE_PATH = Path(__file__).parent / "data" / "pixel_window.npz"
TABLE_NSIDES = tuple(2**k for k in range(12))
_N_THETA_BINS = 4096
_CAP_SAMPLES_PER_RING = 8
log = logging.getLogger(__name__)


def _sample_pixels(nside: int) -> tuple[np.ndarray, np.ndarray]:
    """Representative RING pixels and their weights (pixels they stand for)."""
    pix, weights = [], []
    rings = np.arange(1, 4 * nside)
    starts, nphis, *_ = hp.ringinfo(nside, rings)
    for ring, start, nphi in zip(rings, starts.tolist(), nphis.tolist(), strict=True):
        quarter = max(nphi // 4, 1)
        in_cap = ring < nside or ring > 3 * nside
        n_pick = min(_CAP_SAMPLES_PER_RING, quarter) if in_cap else 1
        chosen = np.unique(np.linspace(0, quarter - 1, n_pick).astype(np.int64))
        pix.append(start + chosen)
        weights.append(np.full(chosen.size, nphi / chosen.size))
    return np.concatenate(pix), np.concatenate(weights)


def _pair_histogram(nside: int, sub: int, edges: np.ndarray) -> np.ndarray:
    """Weighted histogram of intra-pixel pair separations (radians), normalised to sum 1."""
    pix, weights = _sample_pixels(nside)
    nest = hp.ring2nest(nside, pix)
    offsets = np.arange(sub * sub)
    hist = np.zeros(edges.size - 1)
    chunk = max(1, 2_000_000 // sub**4)
    for lo in range(0, pix.size, chunk):
        children = (nest[lo : lo + chunk, None] * sub * sub + offsets).ravel()
        vec = np.array(hp.pix2vec(nside * sub, children, nest=True)).T.reshape(-1, sub * sub, 3)
        cosang = np.clip(np.einsum("pik,pjk->pij", vec, vec), -1.0, 1.0)
        theta = np.arccos(cosang).reshape(cosang.shape[0], -1)
        pair_weights = np.repeat(weights[lo : lo + chunk], theta.shape[1])
        hist += np.histogram(theta.ravel(), bins=edges, weights=pair_weights)[0]
    return hist / hist.sum()


def legendre_table(x: np.ndarray, lmax: int) -> np.ndarray:
    """Legendre polynomials by Bonnet's recurrence.

    Parameters
    ----------
    x : np.ndarray
        ``(n,)`` arguments in [-1, 1].
    lmax : int
        Maximum degree.

    Returns
    -------
    np.ndarray
        ``(lmax + 1, n)``: ``P_l(x)`` for l = 0 .. lmax.
    """
    out = np.empty((lmax + 1, x.size))
    out[0] = 1.0
    if lmax > 0:
        out[1] = x
    for ell in range(2, lmax + 1):
        out[ell] = ((2 * ell - 1) * x * out[ell - 1] - (ell - 1) * out[ell - 2]) / ell
    return out


def compute_pixel_window(nside: int, lmax: int, subsamples: tuple[int, int] = (8, 16)):
    """Compute the temperature pixel window of ``nside`` to ``lmax`` (see module docstring).

    Parameters
    ----------
    nside : int
        HEALPix resolution.
    lmax : int
        Maximum multipole.
    subsamples : (int, int)
        Sub-pixel factors s1 < s2 = 2 s1 used in the 1/s^2 extrapolation.

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)`` with W_0 = 1.
    """
    pixel_size = np.sqrt(4.0 * np.pi / (12 * nside * nside))
    theta_max = min(np.pi, 3.5 * pixel_size * (1.0 + 2.0 / nside))
    edges = np.linspace(0.0, theta_max, _N_THETA_BINS + 1)
    legendre = legendre_table(np.cos(0.5 * (edges[1:] + edges[:-1])), lmax)
    coarse, fine = (legendre @ _pair_histogram(nside, s, edges) for s in subsamples)
    ratio2 = (subsamples[1] / subsamples[0]) ** 2
    continuum = (ratio2 * fine - coarse) / (ratio2 - 1.0)
    return np.sqrt(np.clip(continuum, 0.0, None))


@functools.lru_cache(maxsize=1)
def _table() -> dict[int, np.ndarray]:
    if not TABLE_PATH.exists():
        return {}
    with np.load(TABLE_PATH) as data:
        return {int(key.split("_")[1]): data[key] for key in data.files}


@functools.lru_cache(maxsize=16)
def _window(nside: int, lmax: int) -> np.ndarray:
    tabulated = _table().get(nside)
    if tabulated is not None and tabulated.size > lmax:
        return tabulated[: lmax + 1]
    log.info("computing the pixel window for nside=%d, lmax=%d (not tabulated)", nside, lmax)
    return compute_pixel_window(nside, lmax)


def pixel_window(nside: int, lmax: int | None = None, pol: bool = False) -> np.ndarray:
    """HEALPix pixel window function (no download).

    Parameters
    ----------
    nside : int
        HEALPix resolution.
    lmax : int, optional
        Maximum multipole (default ``3 * nside - 1``).
    pol : bool
        If True return ``(2, lmax + 1)``: temperature and polarisation windows (both the
        top-hat pixel average; the official tables differ between T and P by < 1e-3 at l < 2 nside).

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)`` or ``(2, lmax + 1)``, W_0 = 1.
    """
    if not hp.isnsideok(nside, nest=True):
        raise ValueError(f"nside={nside} is not a valid HEALPix resolution (a power of 2)")
    lmax = 3 * nside - 1 if lmax is None else int(lmax)
    window = _window(int(nside), lmax).copy()
    return np.stack([window, window]) if pol else window


def _write_table(nsides: tuple[int, ...]) -> None:
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    table = {f"nside_{n}": compute_pixel_window(n, 4 * n) for n in nsides}
    tmp = TABLE_PATH.with_name(TABLE_PATH.stem + ".tmp.npz")
    np.savez_compressed(tmp, **table)
    tmp.replace(TABLE_PATH)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate the shipped pixel-window table.")
    parser.add_argument("--max-nside", type=int, default=TABLE_NSIDES[-1])
    args = parser.parse_args()
    _write_table(tuple(n for n in TABLE_NSIDES if n <= args.max_nside))
