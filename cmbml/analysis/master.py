"""Mode-coupling-corrected (MASTER) angular power spectra of masked maps, spin 0 and spin 2.

A weight (mask) ``w`` couples multipoles: the pseudo-spectra of ``w m`` have the expectation
``<C~_l> = sum_l' M_ll' C_l'`` (Hivon et al. 2002, ApJ 567, 2). With ``W_l`` the power spectrum of
the weight and ``L = l1 + l2 + l3``,

- ``M00_l1l2 = (2 l2 + 1) / (4 pi) sum_l3 (2 l3 + 1) W_l3 (l1 l2 l3; 0 0 0)^2`` (TT),
- ``M02_l1l2 = (2 l2 + 1) / (4 pi) sum_l3 (2 l3 + 1) W_l3 (l1 l2 l3; 0 0 0)(l1 l2 l3; -2 2 0)``
  (TE, even L),
- ``M++/M--_l1l2 = (2 l2 + 1) / (8 pi) sum_l3 (2 l3 + 1) W_l3 (l1 l2 l3; -2 2 0)^2 (1 +/- (-1)^L)``,

and the spin-2 spectra mix: ``<C~EE> = M++ C_EE + M-- C_BB``, ``<C~BB> = M-- C_EE + M++ C_BB``
(Brown, Castro & Taylor 2005, MNRAS 360, 1262). Decoupling solves these systems for l >= 2 (the
monopole and dipole are left out: analysis maps have them removed). The matrices come from
ducc0's Wigner-3j coupling kernel; they agree with pspy's (Louis et al. 2020) and with explicit
3j sums (tests). The matrices of a weight are computed once (:meth:`Coupling.from_weight`, ~2 s
for TT at nside 512) and reused for every map under that weight.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import healpy as hp
import numpy as np
from ducc0.misc.experimental import coupling_matrix_rect

from cmbml import sphere
from cmbml.analysis.fields import is_iqu

__all__ = [
    "LMIN",
    "Coupling",
    "alm2cl",
    "alm_spectra",
    "check_weight",
    "decoupled_spectra",
    "mask_spectrum",
    "pseudo_spectra",
]

LMIN = 2
"""First decoupled multipole (l < 2 is set to zero)."""

KINDS_T = ("00",)
KINDS_TP = ("00", "02", "pp", "mm")


@functools.lru_cache(maxsize=8)
def _alm_index(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    ell, m = hp.Alm.getlm(lmax)
    return ell, np.where(m == 0, 1.0, 2.0)


def alm2cl(alm: np.ndarray, alm2: np.ndarray | None = None) -> np.ndarray:
    """Auto (or cross) power spectrum of healpy-ordered alm (``mmax = lmax``), batched.

    Parameters
    ----------
    alm, alm2 : np.ndarray
        complex ``(..., nalm)``; ``alm2`` (same shape) gives the cross-spectrum.

    Returns
    -------
    np.ndarray
        ``(..., lmax + 1)``: ``C_l = sum_m Re(a_lm b_lm*) / (2 l + 1)``.
    """
    alm = np.asarray(alm)
    other = alm if alm2 is None else np.asarray(alm2)
    if other.shape != alm.shape:
        raise ValueError(f"alm shapes differ: {alm.shape} and {other.shape}")
    lmax = hp.Alm.getlmax(alm.shape[-1])
    ell, mult = _alm_index(lmax)
    power = (alm.real * other.real + alm.imag * other.imag) * mult
    flat = power.reshape(-1, power.shape[-1])
    cl = np.stack([np.bincount(ell, weights=row, minlength=lmax + 1) for row in flat])
    cl /= 2 * np.arange(lmax + 1) + 1
    return cl.reshape(power.shape[:-1] + (lmax + 1,))


def check_weight(weight: np.ndarray, npix: int | None = None) -> np.ndarray:
    """``weight`` as float64, checked: a HEALPix map (of ``npix`` pixels when given), finite,
    >= 0, not all zero; a :class:`ValueError` says what is wrong otherwise."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 1 or (npix is not None and weight.size != npix):
        want = f"({npix},) like the maps" if npix is not None else "(npix,)"
        raise ValueError(f"mask weight must have shape {want}, got {weight.shape}")
    if not hp.isnpixok(weight.size):
        raise ValueError(f"mask weight has {weight.size} pixels, not a HEALPix size")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0) or not np.any(weight > 0):
        raise ValueError("mask weight must be finite, >= 0, with at least one positive pixel")
    return weight


def mask_spectrum(weight: np.ndarray, lmax: int, *, niter: int = 3, nthreads: int = 0):
    """Power spectrum ``W_l`` of a weight map, l = 0 .. lmax.

    Parameters
    ----------
    weight : np.ndarray
        ``(npix,)`` RING weight (binary or apodised mask), values >= 0.
    lmax : int
        Maximum multipole.
    niter, nthreads
        Transform settings (:func:`cmbml.sphere.map2alm`).

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)``.
    """
    weight = check_weight(weight)
    return alm2cl(sphere.map2alm(weight, lmax, niter=niter, nthreads=nthreads))


@dataclass(frozen=True)
class Coupling:
    """The mode-coupling matrices of one weight, and the decoupling of pseudo-spectra.

    Attributes
    ----------
    matrices : np.ndarray
        ``(n_kinds, lmax + 1, lmax + 1)`` matrices ``M[l1, l2]`` such that
        ``<C~_l1> = sum_l2 M[l1, l2] C_l2``, for the kinds ``00`` (TT) or ``00, 02, pp, mm``
        (TT, TE, EE/BB mixing).
    """

    matrices: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.matrices, dtype=np.float64)
        if m.ndim != 3 or m.shape[1] != m.shape[2] or m.shape[0] not in (1, 4):
            raise ValueError(
                f"coupling matrices must have shape (1 or 4, lmax + 1, lmax + 1), got {m.shape}"
            )
        if m.shape[1] <= LMIN:
            raise ValueError(f"coupling matrices need lmax >= {LMIN}, got {m.shape[1] - 1}")
        object.__setattr__(self, "matrices", m)

    @property
    def lmax(self) -> int:
        """Maximum multipole of the matrices."""
        return self.matrices.shape[1] - 1

    @property
    def kinds(self) -> tuple[str, ...]:
        """``("00",)`` (temperature only) or ``("00", "02", "pp", "mm")``."""
        return KINDS_T if self.matrices.shape[0] == 1 else KINDS_TP

    @property
    def has_spin2(self) -> bool:
        """Whether the polarisation matrices are present."""
        return self.matrices.shape[0] == 4

    def matrix(self, kind: str) -> np.ndarray:
        """The ``(lmax + 1, lmax + 1)`` matrix of ``kind`` (``00``, ``02``, ``pp``, ``mm``)."""
        if kind not in self.kinds:
            raise ValueError(f"coupling has kinds {self.kinds}, not {kind!r}")
        return self.matrices[self.kinds.index(kind)]

    @classmethod
    def from_weight(
        cls,
        weight: np.ndarray,
        lmax: int | None = None,
        *,
        spin2: bool = False,
        niter: int = 3,
        nthreads: int = 0,
    ) -> Coupling:
        """Coupling matrices of a weight map.

        Parameters
        ----------
        weight : np.ndarray
            ``(npix,)`` RING weight.
        lmax : int, optional
            Maximum multipole (default ``3 nside - 1``, the band of the maps).
        spin2 : bool
            Also compute the TE and EE/BB matrices.
        niter, nthreads
            Transform settings for the weight's spectrum.
        """
        weight = check_weight(weight)
        nside = hp.npix2nside(weight.size)
        lmax = 3 * nside - 1 if lmax is None else int(lmax)
        if lmax <= LMIN:
            raise ValueError(f"lmax must exceed {LMIN}, got {lmax}")
        # the weight's power up to the map band; the 3j sums reach l3 = 2 lmax (zero beyond)
        w_ell = np.zeros(2 * lmax + 1)
        band = min(2 * lmax, 3 * nside - 1)
        w_ell[: band + 1] = mask_spectrum(weight, band, niter=niter, nthreads=nthreads)
        # ducc0 operation types: 0 -> 00, 1 -> 02, 4 -> ++ and --; it leaves out (2 l2 + 1)
        optypes = (0, 1, 4) if spin2 else (0,)
        out = np.zeros((4 if spin2 else 1, lmax + 1, lmax + 1))
        specs = np.tile(w_ell, (len(optypes), 1))
        coupling_matrix_rect(specs, optypes, out, nthreads=sphere.n_threads(nthreads))
        out *= (2 * np.arange(lmax + 1) + 1)[None, None, :]
        return cls(out)

    @functools.cached_property
    def _inverse_00(self) -> np.ndarray:
        return np.linalg.inv(self.matrix("00")[LMIN:, LMIN:])

    @functools.cached_property
    def _inverse_02(self) -> np.ndarray:
        return np.linalg.inv(self.matrix("02")[LMIN:, LMIN:])

    @functools.cached_property
    def _inverse_22(self) -> np.ndarray:
        pp = self.matrix("pp")[LMIN:, LMIN:]
        mm = self.matrix("mm")[LMIN:, LMIN:]
        return np.linalg.inv(np.block([[pp, mm], [mm, pp]]))

    def decouple(self, pseudo: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decoupled spectra from pseudo-spectra.

        Parameters
        ----------
        pseudo : dict
            Pseudo-spectra ``(..., lmax + 1)`` (l = 0 .. lmax of this coupling) under keys
            ``TT``, ``TE``, ``EE`` and ``BB`` (``EE`` and ``BB`` together); any subset.

        Returns
        -------
        dict
            The same keys, ``(..., lmax + 1)`` decoupled C_l with l < 2 set to 0.
        """
        n = self.lmax + 1
        for key, value in pseudo.items():
            if np.shape(value)[-1] != n:
                raise ValueError(
                    f"pseudo-spectrum {key} has {np.shape(value)[-1]} multipoles, the coupling {n}"
                )
        if ("EE" in pseudo) != ("BB" in pseudo):
            raise ValueError("EE and BB are decoupled together: give both pseudo-spectra")
        needs_pol = {"TE", "EE", "BB"} & set(pseudo)
        if needs_pol and not self.has_spin2:
            raise ValueError(f"{sorted(needs_pol)} need spin-2 coupling matrices (spin2=True)")
        out = {}
        for key, inverse in (("TT", "_inverse_00"), ("TE", "_inverse_02")):
            if key in pseudo:
                out[key] = _solve(getattr(self, inverse), np.asarray(pseudo[key], float))
        if "EE" in pseudo:
            stacked = np.concatenate(
                [
                    np.asarray(pseudo["EE"], float)[..., LMIN:],
                    np.asarray(pseudo["BB"], float)[..., LMIN:],
                ],
                axis=-1,
            )
            both = stacked @ self._inverse_22.T
            half = n - LMIN
            for key, part in (("EE", both[..., :half]), ("BB", both[..., half:])):
                full = np.zeros(part.shape[:-1] + (n,))
                full[..., LMIN:] = part
                out[key] = full
        return out


def _solve(inverse: np.ndarray, pseudo: np.ndarray) -> np.ndarray:
    out = np.zeros_like(pseudo)
    out[..., LMIN:] = pseudo[..., LMIN:] @ inverse.T
    return out


def pseudo_spectra(
    maps: np.ndarray, weight: np.ndarray, lmax: int, *, niter: int = 0, nthreads: int = 0
) -> dict[str, np.ndarray]:
    """Pseudo-spectra of weighted I or IQU maps (no correction).

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` intensity or ``(3, npix)`` I, Q, U RING maps (uK_CMB), multiplied by
        ``weight`` here.
    weight : np.ndarray
        ``(npix,)`` weight (mask), values >= 0.
    lmax : int
        Maximum multipole.
    niter, nthreads
        Transform settings (a masked map is not band-limited: iterations change little).

    Returns
    -------
    dict
        ``TT`` (and ``EE``, ``BB``, ``TE`` for IQU maps), ``(lmax + 1,)`` in uK_CMB².
    """
    maps = np.asarray(maps, dtype=np.float64)
    pol = is_iqu(maps, "maps")
    weight = check_weight(weight, maps.shape[-1])
    alm = sphere.map2alm(maps * weight, lmax, pol=pol, niter=niter, nthreads=nthreads)
    return alm_spectra(alm, pol=pol)


def alm_spectra(alm: np.ndarray, *, pol: bool) -> dict[str, np.ndarray]:
    """Auto and cross spectra of spin-0 alm ``(..., nalm)`` (``TT``) or, with ``pol``, of T, E,
    B alm ``(..., 3, nalm)`` (``TT``, ``EE``, ``BB``, ``TE``), each ``(..., lmax + 1)``."""
    alm = np.asarray(alm)
    if not pol:
        return {"TT": alm2cl(alm)}
    if alm.ndim < 2 or alm.shape[-2] != 3:
        raise ValueError(f"pol=True needs (..., 3, nalm) T, E, B alm, got shape {alm.shape}")
    t, e, b = (alm[..., k, :] for k in range(3))
    return {"TT": alm2cl(t), "EE": alm2cl(e), "BB": alm2cl(b), "TE": alm2cl(t, e)}


def decoupled_spectra(
    maps: np.ndarray,
    weight: np.ndarray,
    *,
    lmax: int | None = None,
    coupling: Coupling | None = None,
    window_t: np.ndarray | None = None,
    window_p: np.ndarray | None = None,
    niter: int = 0,
    nthreads: int = 0,
) -> dict[str, np.ndarray]:
    """MASTER spectra of I or IQU maps under a mask: TT, or TT, EE, BB and TE.

    The pseudo-spectra are computed to the coupling's band (``3 nside - 1`` by default), the
    coupling is inverted for l >= 2 (EE and BB jointly, which undoes the E/B mixing of the cut
    sky on average), then the transfer functions (beam times pixel window) are divided out.

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` intensity or ``(3, npix)`` I, Q, U RING maps (uK_CMB). They are multiplied
        by ``weight`` (maps already zero outside the mask are fine).
    weight : np.ndarray
        ``(npix,)`` mask or apodised mask, values in [0, 1].
    lmax : int, optional
        Last multipole returned (default ``2 nside``).
    coupling : Coupling, optional
        Matrices of ``weight`` (computed here when not given; reuse them across maps).
    window_t, window_p : np.ndarray, optional
        Transfer functions ``(>= coupling.lmax + 1,)`` of the temperature and polarisation maps
        to divide out (squared for auto-spectra; their product for TE).
    niter, nthreads
        Transform settings.

    Returns
    -------
    dict
        ``ell`` ``(lmax + 1,)`` and C_l (uK_CMB², l = 0 .. lmax, zero for l < 2) under ``TT``,
        and for IQU maps ``EE``, ``BB``, ``TE``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    nside = hp.npix2nside(maps.shape[-1])
    pol = maps.ndim == 2
    if coupling is None:
        coupling = Coupling.from_weight(weight, spin2=pol, nthreads=nthreads)
    lmax = 2 * nside if lmax is None else int(lmax)
    if not LMIN <= lmax <= coupling.lmax:
        raise ValueError(f"lmax={lmax} must be in [{LMIN}, coupling lmax {coupling.lmax}]")
    pseudo = pseudo_spectra(maps, weight, coupling.lmax, niter=niter, nthreads=nthreads)
    spectra = coupling.decouple(pseudo)
    n = coupling.lmax + 1
    wt = np.ones(n) if window_t is None else np.asarray(window_t, float)[:n]
    wp = np.ones(n) if window_p is None else np.asarray(window_p, float)[:n]
    if wt.size < n or wp.size < n:
        raise ValueError(f"windows must reach l = {coupling.lmax}")
    divide = {"TT": wt * wt, "EE": wp * wp, "BB": wp * wp, "TE": wt * wp}
    out = {"ell": np.arange(lmax + 1)}
    for key, value in spectra.items():
        out[key] = (value / divide[key])[: lmax + 1]
    return out
