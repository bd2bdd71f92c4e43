"""Per-detector beamed sky: CMB + foregrounds, band-limited, at the output resolution.

Pipeline for one simulation (all maps RING, uK_CMB):

1. Foreground alm per detector, ``l <= lmax``, from emission computed at ``nside_sky``
   (:func:`foreground_alms`). If every component's SED is spatially uniform, each component is
   transformed once and scaled per detector in harmonic space; otherwise (varying beta / T) the
   total emission is computed per detector in pixel space and all detectors are transformed in
   batched :func:`cmbml.sphere.map2alm` calls (IQU detectors in one, intensity-only in another,
   chunked to bound memory).
2. Sky alm = CMB alm + foreground alm, times ``b_l * p_l`` (Gaussian beam of the detector and
   the pixel window of the output nside; spin-2 beam for E/B), synthesised at ``nside``
   (:func:`detector_maps`): a band-limited map, free of aliasing from the finer ``nside_sky``.
3. The truth CMB map is the CMB alm synthesised at ``nside`` with no beam and no pixel window
   (:func:`cmb_truth_map`).

When the foregrounds are the same for every simulation, their beamed maps at ``nside`` are
made once (:func:`beamed_foreground_maps`) and added to each simulation's beamed CMB maps
(:func:`sky_maps` with ``fg_maps``): by linearity this equals step 2 exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cmbml import sphere
from cmbml.sims.foregrounds import krj_to_kcmb, sed

__all__ = [
    "beamed_foreground_maps",
    "cmb_truth_map",
    "detector_arrays",
    "detector_maps",
    "foreground_alms",
    "sky_maps",
    "transfer_functions",
]

DEFAULT_BATCH_BYTES = 256 << 20
"""Default memory bound (bytes) for one batch of emission maps or output maps."""


def detector_arrays(detectors, map_fields: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre frequencies, beams and polarisation flags of detectors for the sky functions.

    Parameters
    ----------
    detectors : Iterable
        Objects with ``center_ghz``, ``fwhm_arcmin`` and ``fields(map_fields)`` (such as
        :class:`cmbml.sims.instrument.Detector`).
    map_fields : str
        ``"I"`` or ``"IQU"`` (``scenario.map_fields``).

    Returns
    -------
    tuple of np.ndarray
        ``(n_det,)`` frequencies (GHz), FWHM (arcmin), and whether each output has Q, U.
    """
    dets = list(detectors)
    freqs = np.array([d.center_ghz for d in dets], dtype=np.float64)
    fwhm = np.array([d.fwhm_arcmin for d in dets], dtype=np.float64)
    pol = np.array([d.fields(map_fields) == "IQU" for d in dets], dtype=bool)
    return freqs, fwhm, pol


def transfer_functions(fwhm_arcmin: Sequence[float], nside: int, lmax: int) -> np.ndarray:
    """Beam times pixel window per detector.

    Parameters
    ----------
    fwhm_arcmin : Sequence[float]
        ``(n_det,)`` Gaussian beam FWHM, arcmin.
    nside : int
        Output resolution (its pixel window).
    lmax : int
        Maximum multipole.

    Returns
    -------
    np.ndarray
        ``(n_det, 3, lmax + 1)``: T, E, B transfer ``b_l * p_l`` (E and B use the spin-2 beam).
    """
    window = sphere.pixel_window(nside, lmax)
    out = np.empty((len(fwhm_arcmin), 3, lmax + 1))
    for i, fwhm in enumerate(fwhm_arcmin):
        bl_t, bl_p = sphere.gaussian_beam(float(fwhm), lmax, pol=True)
        out[i] = np.stack([bl_t, bl_p, bl_p]) * window
    return out


def _chunks(indices: np.ndarray, bytes_each: int, max_bytes: int):
    size = max(1, int(max_bytes // max(bytes_each, 1)))
    for lo in range(0, indices.size, size):
        yield indices[lo : lo + size]


def foreground_alms(
    model,
    freqs_ghz: Sequence[float],
    polarised: Sequence[bool],
    lmax: int,
    *,
    nthreads: int = 0,
    max_batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> list[np.ndarray]:
    """Foreground alm per detector (unbeamed), from emission at the model's ``nside``.

    Parameters
    ----------
    model : ForegroundModel or PresetForegroundModel
        Provides ``nside``, ``emission(freq_ghz, pol)`` (uK_CMB) and ``uniform_components``.
    freqs_ghz : Sequence[float]
        ``(n_det,)`` centre frequencies (delta bandpass), GHz.
    polarised : Sequence[bool]
        ``(n_det,)`` whether each detector's output has Q, U.
    lmax : int
        Band limit (``<= 2 * model.nside`` keeps the quadrature accurate).
    nthreads : int
        Threads of the transforms (0: all).
    max_batch_bytes : int
        Memory bound for one batch of emission maps.

    Returns
    -------
    list[np.ndarray]
        Per detector, complex ``(3, nalm)`` T, E, B alm (polarised) or ``(1, nalm)``, uK_CMB.
    """
    freqs = np.asarray(freqs_ghz, dtype=np.float64)
    pol = np.asarray(polarised, dtype=bool)
    if freqs.shape != pol.shape:
        raise ValueError(f"freqs_ghz {freqs.shape} and polarised {pol.shape} must match")
    uniform = model.uniform_components
    if uniform is not None and len(uniform) < freqs.size:
        return _alms_harmonic(uniform, freqs, pol, lmax, nthreads)
    npix = 12 * model.nside**2
    out: list[np.ndarray | None] = [None] * freqs.size
    for group, nfield in ((np.flatnonzero(pol), 3), (np.flatnonzero(~pol), 1)):
        for chunk in _chunks(group, nfield * npix * 8, max_batch_bytes):
            maps = np.empty((chunk.size, nfield, npix))
            for k, i in enumerate(chunk):
                model.emission(freqs[i], pol=nfield == 3, out=maps[k])
            if nfield == 3:
                alms = sphere.map2alm(maps, lmax, pol=True, nthreads=nthreads)
            else:
                alms = sphere.map2alm(maps[:, 0], lmax, nthreads=nthreads)[:, None]
            del maps
            for k, i in enumerate(chunk):
                out[i] = alms[k]
    return out


def _alms_harmonic(templates, freqs, pol, lmax, nthreads):
    """Uniform SEDs: one transform per component, scaled per detector in harmonic space."""
    any_pol = bool(pol.any())
    n = sphere.nalm(lmax)
    out = [np.zeros((3 if p else 1, n), dtype=np.complex128) for p in pol]
    for t in templates:
        if t.polarised and any_pol:
            alm = sphere.map2alm(t.maps, lmax, pol=True, nthreads=nthreads)
        else:
            alm = sphere.map2alm(t.maps[0], lmax, nthreads=nthreads)[None]
        for i, f in enumerate(freqs):
            nf = min(out[i].shape[0], alm.shape[0])
            out[i][:nf] += (krj_to_kcmb(f) * sed(t, f)) * alm[:nf]
    return out


def detector_maps(
    alms: Sequence[np.ndarray],
    fwhm_arcmin: Sequence[float],
    nside: int,
    lmax: int,
    *,
    nthreads: int = 0,
    max_batch_bytes: int = DEFAULT_BATCH_BYTES,
    dtype=np.float64,
) -> list[np.ndarray]:
    """Beam, pixel-window and synthesise per-detector alm at ``nside``.

    Parameters
    ----------
    alms : Sequence[np.ndarray]
        Per detector, complex ``(3, nalm)`` T, E, B or ``(1, nalm)`` T alm, uK_CMB.
    fwhm_arcmin : Sequence[float]
        ``(n_det,)`` beam FWHM, arcmin.
    nside : int
        Output resolution.
    lmax : int
        Maximum multipole of ``alms``.
    nthreads : int
        Threads of the transforms (0: all).
    max_batch_bytes : int
        Memory bound for one batch of output maps.
    dtype : {np.float64, np.float32}
        Type of the maps (float32: single-precision synthesis, :func:`cmbml.sphere.alm2map`).

    Returns
    -------
    list[np.ndarray]
        Per detector ``(3, npix)`` I, Q, U or ``(1, npix)`` I maps of ``dtype``, uK_CMB.
    """
    if len(alms) != len(fwhm_arcmin):
        raise ValueError(f"{len(alms)} alm sets but {len(fwhm_arcmin)} beams")
    transfer = transfer_functions(fwhm_arcmin, nside, lmax)
    nfields = np.array([a.shape[0] for a in alms])
    npix = 12 * nside**2
    out: list[np.ndarray | None] = [None] * len(alms)
    complex_type = np.complex64 if np.dtype(dtype) == np.float32 else np.complex128
    for nfield in (3, 1):
        group = np.flatnonzero(nfields == nfield)
        for chunk in _chunks(group, nfield * npix * 8, max_batch_bytes):
            beamed = np.empty((len(chunk), nfield, alms[chunk[0]].shape[-1]), complex_type)
            for k, i in enumerate(chunk):
                sphere.almxfl(alms[i], transfer[i, :nfield], out=beamed[k])
            if nfield == 3:
                maps = sphere.alm2map(beamed, nside, lmax, pol=True, nthreads=nthreads, dtype=dtype)
            else:
                maps = sphere.alm2map(beamed[:, 0], nside, lmax, nthreads=nthreads, dtype=dtype)
                maps = maps[:, None]
            for k, i in enumerate(chunk):
                out[i] = maps[k]
    return out


def _cmb_fields(cmb_alm: np.ndarray, lmax: int) -> np.ndarray:
    cmb = np.atleast_2d(np.asarray(cmb_alm, dtype=np.complex128))
    if cmb.shape[0] not in (1, 3) or cmb.shape[-1] != sphere.nalm(lmax):
        raise ValueError(
            f"CMB alm must be (nalm,), (1, nalm) or (3, nalm) with nalm={sphere.nalm(lmax)} "
            f"for lmax={lmax}, got shape {np.shape(cmb_alm)}"
        )
    return cmb


def cmb_truth_map(
    cmb_alm: np.ndarray, nside: int, lmax: int, *, nthreads: int = 0, dtype=np.float64
) -> np.ndarray:
    """Unbeamed, band-limited CMB map at ``nside`` (no beam, no pixel window).

    Parameters
    ----------
    cmb_alm : np.ndarray
        complex ``(nalm,)`` T or ``(3, nalm)`` T, E, B alm, uK_CMB.
    nside, lmax : int
        Output resolution and band limit.
    dtype : {np.float64, np.float32}
        Type of the map (float32: single-precision synthesis).

    Returns
    -------
    np.ndarray
        ``(1, npix)`` I or ``(3, npix)`` I, Q, U, uK_CMB.
    """
    cmb = _cmb_fields(cmb_alm, lmax)
    if cmb.shape[0] == 3:
        return sphere.alm2map(cmb, nside, lmax, pol=True, nthreads=nthreads, dtype=dtype)
    return sphere.alm2map(cmb[0], nside, lmax, nthreads=nthreads, dtype=dtype)[None]


def sky_maps(
    cmb_alm: np.ndarray,
    fwhm_arcmin: Sequence[float],
    polarised: Sequence[bool],
    nside: int,
    lmax: int,
    *,
    fg_alms: Sequence[np.ndarray] | None = None,
    fg_maps: Sequence[np.ndarray] | None = None,
    nthreads: int = 0,
    max_batch_bytes: int = DEFAULT_BATCH_BYTES,
    dtype=np.float64,
) -> list[np.ndarray]:
    """Noiseless beamed sky per detector: CMB plus foregrounds, uK_CMB.

    Parameters
    ----------
    cmb_alm : np.ndarray
        complex ``(3, nalm)`` T, E, B (or ``(nalm,)`` T when no detector is polarised), uK_CMB.
    fwhm_arcmin, polarised : Sequence
        ``(n_det,)`` beam FWHM (arcmin) and whether the output has Q, U.
    nside, lmax : int
        Output resolution and band limit.
    fg_alms : Sequence[np.ndarray], optional
        Unbeamed foreground alm per detector (:func:`foreground_alms`), added before the beam.
    fg_maps : Sequence[np.ndarray], optional
        Beamed foreground maps per detector at ``nside`` (:func:`beamed_foreground_maps`),
        added after synthesis. At most one of ``fg_alms`` and ``fg_maps``.
    dtype : {np.float64, np.float32}
        Type of the maps (float32: single-precision synthesis, for maps stored as float32).

    Returns
    -------
    list[np.ndarray]
        Per detector ``(3, npix)`` or ``(1, npix)`` of ``dtype``, uK_CMB.
    """
    if fg_alms is not None and fg_maps is not None:
        raise ValueError("give foregrounds either as alms or as beamed maps, not both")
    cmb = _cmb_fields(cmb_alm, lmax)
    pol = np.asarray(polarised, dtype=bool)
    if pol.any() and cmb.shape[0] != 3:
        raise ValueError("polarised detectors need T, E, B CMB alm of shape (3, nalm)")
    alms = []
    for i, p in enumerate(pol):
        alm = cmb[: 3 if p else 1]
        if fg_alms is not None:
            if fg_alms[i].shape != alm.shape:
                raise ValueError(
                    f"detector {i}: foreground alm shape {fg_alms[i].shape}, expected {alm.shape}"
                )
            alm = alm + fg_alms[i]
        alms.append(alm)
    maps = detector_maps(
        alms,
        fwhm_arcmin,
        nside,
        lmax,
        nthreads=nthreads,
        max_batch_bytes=max_batch_bytes,
        dtype=dtype,
    )
    if fg_maps is not None:
        for i, m in enumerate(maps):
            fg = np.atleast_2d(fg_maps[i])
            if fg.shape != m.shape:
                raise ValueError(
                    f"detector {i}: foreground map shape {fg.shape}, expected {m.shape} "
                    f"(nside {nside})"
                )
            m += fg
    return maps


def beamed_foreground_maps(
    model,
    freqs_ghz: Sequence[float],
    fwhm_arcmin: Sequence[float],
    polarised: Sequence[bool],
    nside: int,
    lmax: int,
    *,
    nthreads: int = 0,
    max_batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> list[np.ndarray]:
    """Foregrounds alone, beamed and pixel-windowed per detector at ``nside``, uK_CMB.

    Returns
    -------
    list[np.ndarray]
        Per detector ``(3, npix)`` or ``(1, npix)`` float64.
    """
    alms = foreground_alms(
        model, freqs_ghz, polarised, lmax, nthreads=nthreads, max_batch_bytes=max_batch_bytes
    )
    return detector_maps(
        alms, fwhm_arcmin, nside, lmax, nthreads=nthreads, max_batch_bytes=max_batch_bytes
    )
