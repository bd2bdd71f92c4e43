"""ILC weights from frequency-frequency covariances, with constrained (deprojected) components.

The (constrained) ILC weights minimise the variance ``w^T C w`` under ``w^T A = e_0``, where the
columns of the mixing matrix ``A`` are the SED of the preserved component and the SEDs of the
deprojected components: ``w = C^-1 A (A^T C^-1 A)^-1 e_0``. Without deprojection this is
``w = C^-1 a / (a^T C^-1 a)``.

Channels in uK_CMB differ by up to six orders of magnitude (545/857 GHz vs the CMB channels), so
``C`` has condition numbers ~1e15. Every solve is done on the correlation-normalised system
``D^-1/2 C D^-1/2`` (``D = diag C``), which is invariant in exact arithmetic and well scaled; an
exactly singular covariance (degenerate channels) falls back to the pseudo-inverse.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["ilc_weights", "ilc_weights_from_pairs", "mixing_matrix", "pair_indices"]

log = logging.getLogger(__name__)


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the ``n (n + 1) / 2`` unique channel pairs (upper triangle)."""
    return np.triu_indices(n)


def mixing_matrix(n_freq: int, sed=None, deproject=None) -> np.ndarray:
    """Mixing matrix ``A`` (``(n_freq, 1 + n_deproj)``) of the preserved and deprojected SEDs.

    Parameters
    ----------
    n_freq : int
        Number of channels.
    sed : array_like or None
        ``(n_freq,)`` SED of the preserved component in the map units (default: CMB in uK_CMB,
        all ones). The output has unit response to it.
    deproject : array_like or None
        ``(n_deproj, n_freq)`` or ``(n_freq,)`` SEDs whose response is nulled (None or empty:
        none). Each is rescaled to a maximum modulus of 1 (the null constraint does not depend
        on its scale).

    Returns
    -------
    np.ndarray
        ``(n_freq, 1 + n_deproj)``.
    """
    preserved = np.ones(n_freq) if sed is None else np.asarray(sed, dtype=float)
    if preserved.shape != (n_freq,) or not np.all(np.isfinite(preserved)):
        raise ValueError(f"sed must be a finite ({n_freq},) array, got shape {preserved.shape}")
    cols = [preserved]
    if deproject is not None and np.size(deproject) > 0:
        dep = np.atleast_2d(np.asarray(deproject, dtype=float))
        if dep.ndim != 2 or dep.shape[1] != n_freq or not np.all(np.isfinite(dep)):
            raise ValueError(
                f"deproject must be finite SEDs of shape (n_deproj, {n_freq}), got {dep.shape}"
            )
        scale = np.abs(dep).max(axis=1, keepdims=True)
        if np.any(scale == 0):
            raise ValueError("a deprojected SED is zero at every frequency")
        cols.extend(dep / scale)
    mix = np.stack(cols, axis=1)
    if mix.shape[1] > n_freq:
        raise ValueError(
            f"{mix.shape[1] - 1} deprojected components need at least {mix.shape[1]} channels, "
            f"got {n_freq}"
        )
    if np.linalg.matrix_rank(mix / np.abs(mix).max(axis=0)) < mix.shape[1]:
        raise ValueError("the preserved and deprojected SEDs are linearly dependent")
    return mix


def ilc_weights(cov: np.ndarray, mixing: np.ndarray) -> np.ndarray:
    """(Constrained) ILC weights for a batch of covariance matrices.

    Parameters
    ----------
    cov : np.ndarray
        ``(..., n_freq, n_freq)`` symmetric positive-definite covariances (any units).
    mixing : np.ndarray
        ``(n_freq, n_comp)`` from :func:`mixing_matrix`; column 0 is preserved with unit
        response, the others are nulled.

    Returns
    -------
    np.ndarray
        ``(..., n_freq)`` weights, ``w^T mixing = (1, 0, ..., 0)``.
    """
    cov = np.asarray(cov, dtype=np.float64)
    n_freq = mixing.shape[0]
    if cov.shape[-2:] != (n_freq, n_freq):
        raise ValueError(f"covariance must be (..., {n_freq}, {n_freq}), got {cov.shape}")
    rows, cols = pair_indices(n_freq)
    pairs = cov[..., rows, cols].reshape(-1, rows.size).T
    weights = ilc_weights_from_pairs(pairs, mixing)
    return weights.T.reshape(cov.shape[:-1])


def ilc_weights_from_pairs(
    cov_pairs: np.ndarray, mixing: np.ndarray, *, chunk: int = 16384
) -> np.ndarray:
    """Per-pixel ILC weights from covariance maps of the unique channel pairs.

    The correlation-normalised system is factorised per pixel as ``L D L^T`` (vectorised over
    pixels); pixels whose covariance is numerically singular (a pivot below 1e-14) use the
    pseudo-inverse instead (minimum-norm weights, e.g. split equally between duplicated
    channels).

    Parameters
    ----------
    cov_pairs : np.ndarray
        ``(n_freq (n_freq + 1) / 2, npix)`` covariance maps in :func:`pair_indices` order.
    mixing : np.ndarray
        ``(n_freq, n_comp)`` from :func:`mixing_matrix`.
    chunk : int
        Pixels solved together (bounds the temporaries to a few ``(n_freq, n_freq, chunk)``).

    Returns
    -------
    np.ndarray
        ``(n_freq, npix)`` weights.
    """
    n_freq = mixing.shape[0]
    rows, cols = pair_indices(n_freq)
    if cov_pairs.ndim != 2 or cov_pairs.shape[0] != rows.size:
        raise ValueError(
            f"covariance pairs must be ({rows.size}, npix) for {n_freq} channels, "
            f"got {cov_pairs.shape}"
        )
    diag = cov_pairs[rows == cols]
    if np.any(~(diag > 0)):
        raise ValueError("covariance has a non-positive or non-finite variance on its diagonal")
    npix = cov_pairs.shape[1]
    weights = np.empty((n_freq, npix))
    for start in range(0, npix, chunk):
        sl = slice(start, min(start + chunk, npix))
        weights[:, sl] = _weights_chunk(cov_pairs[:, sl], mixing)
    return weights


def _weights_chunk(cov_pairs: np.ndarray, mixing: np.ndarray) -> np.ndarray:
    """Weights ``(n_freq, m)`` for ``m`` pixels (pixel-last arrays throughout)."""
    n_freq, n_comp = mixing.shape
    rows, cols = pair_indices(n_freq)
    inv_sd = 1.0 / np.sqrt(cov_pairs[rows == cols])
    corr = np.empty((n_freq, n_freq) + cov_pairs.shape[1:])
    corr[cols, rows] = cov_pairs * inv_sd[rows] * inv_sd[cols]  # the lower triangle only
    mix_n = mixing[:, :, None] * inv_sd[:, None, :]
    y, singular = _ldl_solve(corr, mix_n)
    if singular.any():
        log.warning("%d pixels with singular channel covariance: pseudo-inverse", singular.sum())
        full = corr[:, :, singular]
        full[rows, cols] = full[cols, rows]
        pinv = np.linalg.pinv(np.moveaxis(full, -1, 0), hermitian=True)
        y[:, :, singular] = np.einsum("pij,jkp->ikp", pinv, mix_n[:, :, singular])
    # q = A_n^T y ((n_comp, n_comp, m)); weights = y q^-1 e_0
    q = np.einsum("ikp,ilp->klp", mix_n, y)
    if n_comp == 1:
        w_n = y[:, 0] / q[0, 0]
    else:
        e0 = np.zeros((q.shape[-1], n_comp, 1))
        e0[:, 0] = 1.0
        z = np.linalg.solve(np.moveaxis(q, -1, 0), e0)[..., 0]
        w_n = np.einsum("ikp,pk->ip", y, z)
    return w_n * inv_sd


def _ldl_solve(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``a x = b`` for symmetric ``a`` ``(n, n, m)``, ``b`` ``(n, k, m)`` by LDL^T.

    Only the lower triangle of ``a`` (diagonal included) is read. Returns ``x`` ``(n, k, m)``
    and a ``(m,)`` mask of numerically singular systems (whose ``x`` is meaningless).
    """
    n = a.shape[0]
    low = np.empty_like(a)  # only its strict lower triangle is written and read
    d = np.empty((n,) + a.shape[2:])
    singular = np.zeros(a.shape[2:], dtype=bool)
    for j in range(n):
        ld = low[j, :j] * d[:j]
        d[j] = a[j, j] - np.einsum("km,km->m", low[j, :j], ld)
        singular_j = d[j] <= 1e-14
        d[j][singular_j] = 1.0
        if j + 1 < n:
            low[j + 1 :, j] = (a[j + 1 :, j] - np.einsum("ikm,km->im", low[j + 1 :, :j], ld)) / d[j]
        singular |= singular_j
    x = np.array(b, dtype=np.float64)
    for i in range(1, n):
        x[i] -= np.einsum("jm,jkm->km", low[i, :i], x[:i])
    x /= d[:, None, :]
    for i in range(n - 2, -1, -1):
        x[i] -= np.einsum("jm,jkm->km", low[i + 1 :, i], x[i + 1 :])
    return x, singular
