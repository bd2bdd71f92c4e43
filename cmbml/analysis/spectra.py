"""Angular power spectra of post-processed maps, binning and spectrum metrics.

The analysis estimator (:func:`masked_field_spectra`, :func:`masked_spectra`) is MASTER: the
pseudo-C_l of the maps times an (apodised) weight, decoupled with the weight's mode-coupling
matrices (:class:`cmbml.analysis.master.Coupling`; for I, Q, U maps TT, EE, BB and TE, EE and BB
jointly so that the E-to-B mixing of the cut sky is undone on average), then divided by each
map's transfer functions (beam and pixel window; the spin-2 beam for E and B). Spectra are
D_l = l (l + 1) C_l / (2 pi) in uK_CMB² for l = 2 .. lmax.
:func:`pseudo_cl` is the uncorrected estimator (pseudo-C_l over ``mean(weight²)``), biased by the
mask's mode coupling by several per cent at l < 50 on a galactic cut.
"""

from __future__ import annotations

import healpy as hp
import numpy as np

from cmbml import sphere
from cmbml.analysis import metrics
from cmbml.analysis.fields import SPECTRA, is_iqu
from cmbml.analysis.master import Coupling, alm2cl, alm_spectra, check_weight
from cmbml.analysis.postprocess import Resolution

__all__ = [
    "SPECTRUM_METRICS",
    "alm2cl",
    "bin_centres",
    "bin_edges",
    "bin_spectrum",
    "cl_to_dl",
    "effective_fsky",
    "floor_lmax",
    "knox_sigma",
    "masked_field_spectra",
    "masked_spectra",
    "pseudo_cl",
    "spectrum_metrics",
    "spectrum_windows",
    "theory_dl",
    "window_function",
]

SPECTRUM_METRICS: tuple[str, ...] = ("mae", "rmse", "nrmse")
"""Metrics (from :mod:`cmbml.analysis.metrics`) computed on binned D_l; all lower-is-better."""

LMIN = 2
"""First multipole of every spectrum (the monopole and dipole are removed in post-processing)."""


def pseudo_cl(
    maps: np.ndarray, weight: np.ndarray, lmax: int, *, niter: int = 0, nthreads: int = 0
) -> np.ndarray:
    """f_sky-normalised pseudo-C_l of weighted maps (no mode-coupling correction).

    Parameters
    ----------
    maps : np.ndarray
        ``(npix,)`` or ``(n_maps, npix)`` RING maps (uK_CMB).
    weight : np.ndarray
        ``(npix,)`` mask or apodised mask, values in [0, 1].
    lmax : int
        Maximum multipole.
    niter, nthreads
        Transform settings (:func:`cmbml.sphere.map2alm`).

    Returns
    -------
    np.ndarray
        ``(..., lmax + 1)`` C_l (uK_CMB²) of ``maps * weight`` divided by ``mean(weight**2)``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    weight = check_weight(weight, maps.shape[-1])
    alm = sphere.map2alm(maps * weight, lmax, niter=niter, nthreads=nthreads)
    return alm2cl(alm) / np.mean(weight**2)


def window_function(
    nside: int, lmax: int, resolution: Resolution, *, pol: bool = False
) -> np.ndarray:
    """Transfer function of a map: Gaussian beam times (optionally) the pixel window.

    With ``pol`` the beam is the spin-2 Gaussian beam of the E and B harmonics of Q, U maps; the
    pixel window is the intensity one (as the simulation applies it to all fields).

    Returns
    -------
    np.ndarray
        ``(lmax + 1,)``, what the map's harmonic coefficients were multiplied by.
    """
    window = sphere.gaussian_beam(resolution.fwhm_arcmin, lmax, pol=True)[int(pol)]
    if resolution.pixwin:
        window = window * sphere.pixel_window(nside)[: lmax + 1]
    return window


def floor_lmax(window: np.ndarray, floor: float, lmax: int) -> int:
    """Last multipole (<= ``lmax``) before the squared transfer function first drops below
    ``floor``: spectrum metrics stop there, where deconvolution would divide noise by tiny
    numbers (e.g. ``b_l² < 0.01`` beyond l ~ 800 for 20.6 arcmin at nside 512).

    Parameters
    ----------
    window : np.ndarray
        ``(>= lmax + 1,)`` transfer function from l = 0.
    floor : float
        Smallest ``window²`` accepted, in [0, 1).
    lmax : int
        Upper bound.

    Returns
    -------
    int
        The multipole, at least ``LMIN`` + 1 so that a spectrum has two bins' worth of l.
    """
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"the beam floor must be in [0, 1), got {floor}")
    below = np.flatnonzero(np.asarray(window[: lmax + 1]) ** 2 < floor)
    last = lmax if below.size == 0 else int(below[0]) - 1
    return max(last, LMIN + 1)


def cl_to_dl(cl: np.ndarray) -> np.ndarray:
    """D_l = l (l + 1) C_l / (2 pi) for ``(..., lmax + 1)`` C_l indexed from l = 0."""
    cl = np.asarray(cl, dtype=np.float64)
    ell = np.arange(cl.shape[-1])
    return cl * ell * (ell + 1) / (2.0 * np.pi)


def spectrum_windows(nside: int, lmax: int, resolution: Resolution) -> dict[str, np.ndarray]:
    """What each spectrum of a map at ``resolution`` is multiplied by: ``b_T²`` (TT), ``b_P²``
    (EE, BB) and ``b_T b_P`` (TE), each ``(lmax + 1,)`` (see :func:`window_function`)."""
    wt = window_function(nside, lmax, resolution)
    wp = window_function(nside, lmax, resolution, pol=True)
    return {"TT": wt * wt, "EE": wp * wp, "BB": wp * wp, "TE": wt * wp}


def masked_field_spectra(
    truth: np.ndarray,
    prediction: np.ndarray,
    weight: np.ndarray,
    *,
    lmax: int,
    truth_resolution: Resolution,
    prediction_resolution: Resolution,
    coupling: Coupling | None = None,
    niter: int = 0,
    nthreads: int = 0,
) -> dict:
    """MASTER D_l of the truth, the prediction and their difference (residual) under a mask:
    TT for intensity maps, TT, EE, BB and TE for I, Q, U maps.

    Parameters
    ----------
    truth, prediction : np.ndarray
        ``(npix,)`` or ``(3, npix)`` post-processed RING maps (uK_CMB), of equal shapes.
    weight : np.ndarray
        ``(npix,)`` apodised mask (0 where the binary mask is 0).
    lmax : int
        Maximum multipole returned (at most the coupling's, ``3 nside - 1``).
    truth_resolution, prediction_resolution : Resolution
        Transfer functions of the two maps, divided out of their spectra. The residual is
        divided by the common one when they are equal, and left as it is otherwise (it is then
        the spectrum of the error map the pixel metrics see).
    coupling : Coupling, optional
        Coupling matrices of ``weight``, with the spin-2 ones for I, Q, U maps (computed here
        when not given).
    niter, nthreads
        Transform settings of the masked maps' analyses. A masked map is not band-limited, so
        iterations buy nothing: D_l changes by < 1e-3 at l <= 2 nside between 0 and 3.

    Returns
    -------
    dict
        ``ell`` ``(lmax - 1,)`` = 2 .. lmax, and per spectrum (``TT``, or ``TT``, ``EE``, ``BB``,
        ``TE``) a dict of ``truth``, ``prediction``, ``residual`` D_l (uK_CMB²) on those
        multipoles, from one transform (spin 0, and spin 2 for Q, U) of each map.
    """
    truth = np.asarray(truth, dtype=np.float64)
    prediction = np.asarray(prediction, dtype=np.float64)
    pol = is_iqu(truth, "truth")
    if truth.shape != prediction.shape:
        raise ValueError(
            f"truth and prediction must have equal shapes, got {truth.shape} and {prediction.shape}"
        )
    nside = hp.npix2nside(truth.shape[-1])
    weight = check_weight(weight, truth.shape[-1])
    if coupling is None:
        coupling = Coupling.from_weight(weight, spin2=pol, nthreads=nthreads)
    if not LMIN <= lmax <= coupling.lmax:
        raise ValueError(f"lmax={lmax} must be in [{LMIN}, coupling lmax {coupling.lmax}]")
    band = coupling.lmax
    alm = sphere.map2alm(
        np.stack([truth, prediction]) * weight, band, pol=pol, niter=niter, nthreads=nthreads
    )
    pseudo = alm_spectra(np.stack([alm[0], alm[1], alm[1] - alm[0]]), pol=pol)
    cl = coupling.decouple(pseudo)
    w_truth = spectrum_windows(nside, band, truth_resolution)
    w_pred = spectrum_windows(nside, band, prediction_resolution)
    same = truth_resolution == prediction_resolution
    out: dict = {"ell": np.arange(LMIN, lmax + 1)}
    for key in SPECTRA if pol else ("TT",):
        divide = np.stack([w_truth[key], w_pred[key], w_pred[key] if same else np.ones(band + 1)])
        dl = cl_to_dl(cl[key] / divide)[:, LMIN : lmax + 1]
        out[key] = {"truth": dl[0], "prediction": dl[1], "residual": dl[2]}
    return out


def masked_spectra(
    truth: np.ndarray,
    prediction: np.ndarray,
    weight: np.ndarray,
    *,
    lmax: int,
    truth_resolution: Resolution,
    prediction_resolution: Resolution,
    coupling: Coupling | None = None,
    niter: int = 0,
    nthreads: int = 0,
) -> dict[str, np.ndarray]:
    """MASTER D_l^TT of intensity maps (:func:`masked_field_spectra` of ``(npix,)`` maps).

    Returns
    -------
    dict
        ``ell`` ``(lmax - 1,)`` = 2 .. lmax; ``truth``, ``prediction``, ``residual`` D_l
        (uK_CMB²) on those multipoles.
    """
    if np.ndim(truth) != 1 or np.shape(truth) != np.shape(prediction):
        raise ValueError(
            f"truth and prediction must be single maps of equal size, got {np.shape(truth)} "
            f"and {np.shape(prediction)}"
        )
    out = masked_field_spectra(
        truth,
        prediction,
        weight,
        lmax=lmax,
        truth_resolution=truth_resolution,
        prediction_resolution=prediction_resolution,
        coupling=coupling,
        niter=niter,
        nthreads=nthreads,
    )
    return {"ell": out["ell"], **out["TT"]}


def effective_fsky(weight: np.ndarray) -> float:
    """Sky fraction for mode counting with a weight w: ``mean(w²)² / mean(w⁴)``."""
    weight = np.asarray(weight, dtype=np.float64)
    return float(np.mean(weight**2) ** 2 / np.mean(weight**4))


def bin_edges(lmin: int, lmax: int, width: int) -> np.ndarray:
    """Edges of contiguous multipole bins ``[edges[i], edges[i+1])`` covering lmin .. lmax.

    The last bin is shorter when ``width`` does not divide the range.
    """
    if width < 1 or lmax < lmin:
        raise ValueError(f"need width >= 1 and lmax >= lmin, got width={width}, [{lmin}, {lmax}]")
    return np.append(np.arange(lmin, lmax + 1, width), lmax + 1)


def bin_centres(edges: np.ndarray) -> np.ndarray:
    """Mean multipole of each bin, ``(n_bins,)``."""
    edges = np.asarray(edges)
    return 0.5 * (edges[:-1] + edges[1:] - 1)


def bin_spectrum(spectrum: np.ndarray, edges: np.ndarray, lmin: int = LMIN) -> np.ndarray:
    """Uniform average of a spectrum over multipole bins.

    Parameters
    ----------
    spectrum : np.ndarray
        ``(..., n_ell)`` values on multipoles ``lmin, lmin + 1, ...``.
    edges : np.ndarray
        Bin edges (:func:`bin_edges`), within the spectrum's range.
    lmin : int
        Multipole of ``spectrum[..., 0]``.

    Returns
    -------
    np.ndarray
        ``(..., n_bins)``.
    """
    spectrum = np.asarray(spectrum, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.int64)
    if edges[0] < lmin or edges[-1] > lmin + spectrum.shape[-1]:
        raise ValueError(
            f"bins [{edges[0]}, {edges[-1]}) exceed the spectrum's multipoles "
            f"[{lmin}, {lmin + spectrum.shape[-1]})"
        )
    sums = np.add.reduceat(
        spectrum[..., edges[0] - lmin : edges[-1] - lmin], edges[:-1] - edges[0], axis=-1
    )
    return sums / np.diff(edges)


def knox_sigma(
    dl: np.ndarray,
    edges: np.ndarray,
    fsky: float,
    lmin: int = LMIN,
    *,
    auto: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Cosmic-variance (Knox) standard deviation of binned D_l on a fraction of the sky.

    ``var(D_l) = 2 D_l² / ((2 l + 1) f_sky)`` per multipole for an auto-spectrum, and
    ``(D_l^XY² + D_l^XX D_l^YY) / ((2 l + 1) f_sky)`` for a cross-spectrum XY (TE) given the
    auto-spectra ``auto``; multipoles treated as independent, so the bin average has variance
    ``sum_l var(D_l) / n_l²``.

    Parameters
    ----------
    dl : np.ndarray
        ``(n_ell,)`` theory D_l (uK_CMB²) from ``lmin``.
    edges : np.ndarray
        Bin edges.
    fsky : float
        Effective sky fraction (:func:`effective_fsky`).
    lmin : int
        Multipole of ``dl[0]``.
    auto : tuple of np.ndarray, optional
        ``(D_l^XX, D_l^YY)`` on the multipoles of ``dl`` when ``dl`` is a cross-spectrum.

    Returns
    -------
    np.ndarray
        ``(n_bins,)`` standard deviations (uK_CMB²).
    """
    if not 0.0 < fsky <= 1.0:
        raise ValueError(f"fsky must be in (0, 1], got {fsky}")
    dl = np.asarray(dl, dtype=np.float64)
    xx, yy = (dl, dl) if auto is None else (np.asarray(a, dtype=np.float64) for a in auto)
    ell = np.arange(lmin, lmin + dl.size)
    var = (dl**2 + xx * yy) / ((2 * ell + 1) * fsky)
    return np.sqrt(bin_spectrum(var, edges, lmin) / np.diff(edges))


def spectrum_metrics(
    dl_binned: np.ndarray, reference_binned: np.ndarray, prefix: str
) -> dict[str, float]:
    """:data:`SPECTRUM_METRICS` between binned D_l and a binned reference (theory or realisation).

    Returns
    -------
    dict
        ``{f"{prefix}_{name}": value}``; MAE and RMSE in uK_CMB², NRMSE dimensionless (NaN for
        a reference that is identically zero, e.g. the BB of a theory without B modes).
    """
    out = {}
    for name in SPECTRUM_METRICS:
        if name == "nrmse" and not np.any(reference_binned):
            out[f"{prefix}_{name}"] = float("nan")
        else:
            out[f"{prefix}_{name}"] = metrics.PIXEL_METRICS[name](reference_binned, dl_binned)
    return out


def theory_dl(table, lmax: int, source: str = "theory spectrum", *, spectrum: str = "TT"):
    """D_l of one spectrum for l = 2 .. lmax from a spectrum table of C_l.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``ell`` (0, 1, ..., without gaps) and ``TT`` (and ``EE``, ``BB``, ``TE``), C_l
        in uK_CMB², as the simulation writes ``cmb_spectrum``.
    lmax : int
        Maximum multipole wanted.
    source : str
        Name of the table for error messages (e.g. the file).
    spectrum : str
        The column (``TT``, ``EE``, ``BB`` or ``TE``).

    Returns
    -------
    np.ndarray
        ``(lmax - 1,)`` D_l (uK_CMB²).
    """
    missing = [c for c in ("ell", spectrum) if c not in getattr(table, "columns", ())]
    if missing:
        raise ValueError(
            f"{source}: expected a table with columns 'ell' and '{spectrum}', missing {missing}"
        )
    ell = table["ell"].to_numpy()
    if not np.array_equal(ell, np.arange(ell.size)):
        raise ValueError(f"{source}: column 'ell' must be 0, 1, ..., lmax without gaps")
    if ell.size <= lmax:
        raise ValueError(f"{source} reaches l = {ell.size - 1}, the analysis needs lmax = {lmax}")
    return cl_to_dl(table[spectrum].to_numpy(dtype=np.float64)[: lmax + 1])[LMIN:]
