"""Analysis cost per simulation: post-processing, pixel metrics and power spectra.

One simulation's analysis compute (no file I/O): smooth the unbeamed truth to the common beam
(20.6 arcmin + pixel window; the prediction is already at it, as the ILC's output is), remove the
monopole and dipole on the unmasked sky, mask, the six pixel metrics, the masked spectra of truth,
prediction and residual to l = 2 nside, binning and the spectrum metrics. Also timed: the case
where the prediction needs re-beaming too (native 10 arcmin). One-off per-process costs (pixel
window, pixel-vector cache) are excluded from ``wall_s`` and reported as ``setup_s``.
Target: < 2 s per simulation at nside 512.
"""

import time
from pathlib import Path

import numpy as np

from benchmarks.registry import benchmark

COMMON_FWHM = 20.6
N_TIMED = 3


def _inputs(nside: int):
    import healpy as hp

    from cmbml import sphere
    from cmbml.analysis.postprocess import Resolution, rebeam

    dl = np.loadtxt(Path(hp.__file__).parent / "data" / "totcls.dat")[:, 1]
    lmax = 3 * nside - 1
    ell = np.arange(lmax + 1)
    cl = np.zeros(lmax + 1)
    cl[2:] = dl[2 : lmax + 1] * 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    rng = np.random.default_rng(0)
    alm = rng.standard_normal(sphere.nalm(lmax)) + 1j * rng.standard_normal(sphere.nalm(lmax))
    alm = sphere.almxfl(alm / np.sqrt(2.0), np.sqrt(cl))
    truth = sphere.alm2map(alm, nside, lmax)
    common = Resolution(COMMON_FWHM, True)
    pred = rebeam(truth, Resolution(), common) + rng.normal(0, 5.0, truth.size)
    pred_10 = rebeam(truth, Resolution(), Resolution(10.0, True))
    z = np.abs(hp.pix2vec(nside, np.arange(truth.size))[2])
    mask = (z > 0.3).astype(float)
    apod = mask * 0.5 * (1 - np.cos(np.pi * np.clip((z - 0.3) / 0.15, 0, 1)))
    return truth, pred, pred_10, mask, apod, dl[2 : 2 * nside + 1]


def _analyse(truth, pred, pred_resolution, mask, apod, theory, nside):
    from cmbml.analysis import metrics, spectra
    from cmbml.analysis.postprocess import Resolution, postprocess_pair

    common = Resolution(COMMON_FWHM, True)
    t_pp, p_pp = postprocess_pair(
        truth, pred, mask, prediction_resolution=pred_resolution, common_resolution=common
    )
    good = mask > 0
    out = metrics.pixel_metrics(t_pp[good], p_pp[good])
    lmax = 2 * nside
    spec = spectra.masked_spectra(t_pp, p_pp, apod, lmax=lmax, fwhm_arcmin=COMMON_FWHM, pixwin=True)
    edges = spectra.bin_edges(2, lmax, 30)
    pred_b = spectra.bin_spectrum(spec["prediction"], edges)
    out.update(spectra.spectrum_metrics(pred_b, spectra.bin_spectrum(theory, edges), "theory"))
    out.update(spectra.spectrum_metrics(pred_b, spectra.bin_spectrum(spec["truth"], edges), "real"))
    return out


def _bench(nside: int) -> dict:
    from cmbml.analysis.postprocess import Resolution

    truth, pred, pred_10, mask, apod, theory = _inputs(nside)
    native = Resolution(COMMON_FWHM, True)
    start = time.perf_counter()
    _analyse(truth, pred, native, mask, apod, theory, nside)  # warm caches
    setup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(N_TIMED):
        _analyse(truth, pred, native, mask, apod, theory, nside)
    per_sim = (time.perf_counter() - start) / N_TIMED
    start = time.perf_counter()
    for _ in range(N_TIMED):
        _analyse(truth, pred_10, Resolution(10.0, True), mask, apod, theory, nside)
    per_sim_both = (time.perf_counter() - start) / N_TIMED
    return {
        "wall_s": per_sim,
        "wall_s_rebeam_both": per_sim_both,
        "setup_s": setup,
        "nside": nside,
        "target_s": 2.0 if nside == 512 else None,
    }


@benchmark("analysis.per_sim.nside128")
def per_sim_128() -> dict:
    return _bench(128)


@benchmark("analysis.per_sim.nside512")
def per_sim_512() -> dict:
    return _bench(512)
