"""Needlet (CNILC) and harmonic (HILC) ILC: time and memory per simulation, CMB-ML settings.

Eight channels (44-857 GHz) at the CMB-ML beams, output beam 20.6 arcmin, synthetic sky (CMB +
dust + synchrotron + white noise) built before the timer starts. The ``*_iqu`` benchmarks clean
I, Q, U maps (Q, U at 44-353 GHz, intensity only at 545/857 GHz) and, in the same process on the
same sky, the intensity alone: ``ratio_to_i`` is the IQU cost over the I cost.

Every benchmark also times, in the same process, the spherical-harmonic transforms the
algorithm needs (:mod:`benchmarks.floor`, single-threaded): ``floor_cpu_s``, and
``cpu_over_floor`` / ``wall_over_floor`` (the IQU ones: ``i_floor_cpu_s``, ``i_cpu_over_floor``
for the intensity run). Times are of a warm call (the benchmark's second call on the same
inputs, as PyILC was compared with its numba cache warm); ``cold_cpu_s`` is the first call's,
with the one-time set-up of ducc0 and numpy.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.floor import harmonic_plan, needlet_plan, over_floor, time_plan
from benchmarks.registry import benchmark

FREQS_GHZ = [44.1, 70.4, 100.89, 142.876, 221.156, 357.5, 555.2, 866.8]
BEAMS_ARCMIN = [65.0, 55.0, 43.0, 32.4, 22.3, 22.0, 21.5, 20.6]
NOISE_UK_ARCMIN = [162.0, 210.0, 77.4, 33.0, 46.8, 153.6, 806.4, 19048.3]
NOISE_P_UK_ARCMIN = [240.0, 300.0, 117.6, 70.2, 105.0, 438.6]  # 44-353 GHz
POLARISED = np.array([True] * 6 + [False] * 2)
OUTPUT_FWHM_ARCMIN = 20.6
# CMB-ML presets (DESIGN section 6); nside 64 scaled from the nside 128 one
ELLPEAKS = {
    64: [80, 140, 191],
    128: [100, 200, 300, 383],
    512: [200, 715, 1025],
    1024: [200, 715, 1025],  # cfg/model/pyilc/cnilc.yaml
}
HILC_BIN_SIZE = 50


def synthetic_sky(nside: int, lmax: int, seed: int = 0) -> np.ndarray:
    """``(8, npix)`` uK_CMB maps: CMB + dust + synchrotron at each beam, plus white noise."""
    from cmbml.ilc import dust_sed, synchrotron_sed
    from cmbml.sphere import alm2map, almxfl, gaussian_beam, nalm

    rng = np.random.default_rng(seed)
    ell = np.arange(lmax + 1)

    def field(cl):
        alm = rng.standard_normal(nalm(lmax)) + 1j * rng.standard_normal(nalm(lmax))
        alm[: lmax + 1] = alm[: lmax + 1].real * np.sqrt(2.0)
        return almxfl(alm / np.sqrt(2.0), np.sqrt(cl))

    safe = np.maximum(ell, 1.0)
    cmb = field(np.where(ell >= 2, 2 * np.pi * 3000.0 / (safe * (safe + 1)), 0.0))
    dust = field(np.where(ell >= 1, 3e4 * safe**-2.4, 0.0))
    sync = field(np.where(ell >= 1, 3e4 * safe**-2.6, 0.0))
    beams = np.stack([gaussian_beam(f, lmax) for f in BEAMS_ARCMIN])
    sky = (
        cmb[None, :]
        + dust_sed(FREQS_GHZ)[:, None] * dust[None, :]
        + synchrotron_sed(FREQS_GHZ)[:, None] * sync[None, :]
    )
    maps = alm2map(almxfl(sky, beams), nside, lmax)
    pixel_arcmin = np.sqrt(4 * np.pi / (12 * nside**2)) * 60 * 180 / np.pi
    sigma = np.array(NOISE_UK_ARCMIN) / pixel_arcmin
    maps += sigma[:, None] * rng.standard_normal(maps.shape)
    return maps


def synthetic_sky_iqu(nside: int, lmax: int, seed: int = 0) -> np.ndarray:
    """``(8, 3, npix)`` uK_CMB I, Q, U maps (Q, U zero at 545/857 GHz): the intensity of
    :func:`synthetic_sky`, CMB E, B (D_l^EE = 20 uK^2, BB a tenth) and dust, synchrotron E, B at
    a tenth of their intensity amplitude, at the spin-2 beams, plus white noise."""
    from cmbml.ilc import dust_sed, synchrotron_sed
    from cmbml.sphere import alm2map_spin2, almxfl, gaussian_beam, nalm

    rng = np.random.default_rng(seed + 1)
    ell = np.arange(lmax + 1)
    safe = np.maximum(ell, 1.0)

    def field(cl):
        alm = rng.standard_normal(nalm(lmax)) + 1j * rng.standard_normal(nalm(lmax))
        alm[: lmax + 1] = alm[: lmax + 1].real * np.sqrt(2.0)
        return almxfl(alm / np.sqrt(2.0), np.sqrt(np.where(ell >= 2, cl, 0.0)))

    ee = 2 * np.pi * 20.0 / (safe * (safe + 1))
    cmb = np.stack([field(ee), field(0.1 * ee)])
    dust = np.stack([field(3e2 * safe**-2.4), field(1.5e2 * safe**-2.4)])
    sync = np.stack([field(3e2 * safe**-2.6), field(1e2 * safe**-2.6)])
    freqs = np.array(FREQS_GHZ)[POLARISED]
    sky = (
        cmb[None]
        + dust_sed(freqs)[:, None, None] * dust[None]
        + synchrotron_sed(freqs)[:, None, None] * sync[None]
    )
    beams = np.stack(
        [gaussian_beam(f, lmax, pol=True)[1] for f in np.array(BEAMS_ARCMIN)[POLARISED]]
    )
    qu = alm2map_spin2(almxfl(sky, beams[:, None]), nside, lmax)
    pixel_arcmin = np.sqrt(4 * np.pi / (12 * nside**2)) * 60 * 180 / np.pi
    sigma = np.array(NOISE_P_UK_ARCMIN) / pixel_arcmin
    qu += sigma[:, None, None] * rng.standard_normal(qu.shape)
    maps = np.zeros((len(FREQS_GHZ), 3, 12 * nside**2))
    maps[:, 0] = synthetic_sky(nside, lmax, seed)
    maps[POLARISED, 1:] = qu
    return maps


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    assert np.all(np.isfinite(out))
    return time.perf_counter() - start, time.process_time() - cpu


def _plan(method: str, nside: int, polarised=None) -> list:
    """The transforms of the benchmarked ILC (:mod:`benchmarks.floor`)."""
    ellpeaks = ELLPEAKS[nside]
    if method == "cnilc":
        return needlet_plan(nside, BEAMS_ARCMIN, ellpeaks, polarised=polarised)
    return harmonic_plan(nside, len(FREQS_GHZ), ellpeaks[-1] - 1, polarised=polarised)


def _ilc(method: str, nside: int):
    """The benchmarked ILC function and its settings (CMB-ML's) at ``nside``."""
    from cmbml.ilc import harmonic_ilc, needlet_ilc

    ellpeaks = ELLPEAKS[nside]
    if method == "cnilc":
        return needlet_ilc, dict(ellpeaks=ellpeaks, output_fwhm_arcmin=OUTPUT_FWHM_ARCMIN)
    lmax = ellpeaks[-1] - 1
    return harmonic_ilc, dict(
        bin_size=HILC_BIN_SIZE, output_fwhm_arcmin=OUTPUT_FWHM_ARCMIN, lmax=lmax
    )


def _run_iqu(method: str, nside: int) -> dict:
    lmax = ELLPEAKS[nside][-1] - 1
    maps = synthetic_sky_iqu(nside, lmax)
    ilc, kwargs = _ilc(method, nside)
    _timed(lambda: ilc(maps[:, 0], BEAMS_ARCMIN, **kwargs))  # first call: one-time set-up
    wall_i, cpu_i = _timed(lambda: ilc(maps[:, 0], BEAMS_ARCMIN, **kwargs))
    wall, cpu = _timed(lambda: ilc(maps, BEAMS_ARCMIN, polarised=POLARISED, **kwargs))
    floor_i = time_plan(_plan(method, nside))
    result = {
        "wall_s": wall,
        "cpu_s": cpu,
        "i_wall_s": wall_i,
        "i_cpu_s": cpu_i,
        "i_floor_cpu_s": floor_i["floor_cpu_s"],
        "i_cpu_over_floor": cpu_i / floor_i["floor_cpu_s"],
        "ratio_to_i": wall / wall_i,
        "cpu_ratio_to_i": cpu / cpu_i,
        "nside": nside,
        "lmax": lmax,
        "n_freq": len(FREQS_GHZ),
        "n_polarised": int(POLARISED.sum()),
    }
    return over_floor(result, _plan(method, nside, POLARISED))


def _run(method: str, nside: int) -> dict:
    lmax = ELLPEAKS[nside][-1] - 1
    maps = synthetic_sky(nside, lmax)
    ilc, kwargs = _ilc(method, nside)

    def run():
        return ilc(maps, BEAMS_ARCMIN, **kwargs)

    cold_wall, cold_cpu = _timed(run)  # first call: one-time set-up of ducc0 and numpy
    wall, cpu = _timed(run)  # warm, as PyILC is compared (its numba cache warm)
    result = {
        "wall_s": wall,
        "cpu_s": cpu,
        "cold_wall_s": cold_wall,
        "cold_cpu_s": cold_cpu,
        "nside": nside,
        "lmax": lmax,
        "n_freq": len(FREQS_GHZ),
    }
    return over_floor(result, _plan(method, nside))


for _nside in (64, 128, 512, 1024):
    for _method in ("cnilc", "hilc"):

        def _bench(method=_method, nside=_nside) -> dict:
            return _run(method, nside)

        _bench.__doc__ = f"{_method.upper()} on one 8-channel simulation at nside {_nside}."
        benchmark(f"ilc.{_method}.nside{_nside}")(_bench)


for _nside in (64, 128, 512):
    for _method in ("cnilc", "hilc"):

        def _bench_iqu(method=_method, nside=_nside) -> dict:
            return _run_iqu(method, nside)

        _bench_iqu.__doc__ = (
            f"{_method.upper()} of I, Q, U (6 of 8 channels polarised) at nside {_nside}, "
            "and of I alone for the ratio."
        )
        benchmark(f"ilc.{_method}_iqu.nside{_nside}")(_bench_iqu)
