"""Analysis cost per simulation: post-processing, pixel metrics and MASTER power spectra.

One simulation's analysis compute (no file I/O) in each scoring protocol: ``matched`` (truth and
prediction both through a transform to the common 20.6 arcmin beam and pixel window, l <= 2
nside) and ``published`` (no transform). Then: monopole and dipole removed on the unmasked sky,
mask, the six pixel metrics, the MASTER spectra of truth, prediction and residual to l = 2 nside
with the mask's coupling matrix (computed once per mask, as the analysis_mask stage does, and
reported as ``coupling_s``: it is not part of the per-simulation cost), binning and the spectrum
metrics. One-off per-process costs (pixel window, pixel vectors, the matrix inversion on first
use) are excluded from ``wall_s`` and reported as ``setup_s``. Target: < 2 s per simulation at
nside 512.
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
    pred = rebeam(truth, Resolution(), Resolution(COMMON_FWHM, True)) + rng.normal(
        0, 5.0, truth.size
    )
    z = np.abs(hp.pix2vec(nside, np.arange(truth.size))[2])
    mask = (z > 0.3).astype(float)
    apod = mask * 0.5 * (1 - np.cos(np.pi * np.clip((z - 0.3) / 0.15, 0, 1)))
    return truth, pred, mask, apod, dl[2 : 2 * nside + 1]


def _analyse(truth, pred, mask, apod, coupling, theory, nside, protocol):
    from cmbml.analysis import metrics, spectra
    from cmbml.analysis.postprocess import Resolution, postprocess_pair

    ilc = Resolution(COMMON_FWHM, True)
    t_pp, p_pp = postprocess_pair(
        truth,
        pred,
        mask,
        prediction_resolution=ilc,
        common_resolution=ilc,
        protocol=protocol,
        niter=1,  # model.analysis.niter
    )
    good = mask > 0
    out = metrics.pixel_metrics(t_pp[good], p_pp[good])
    lmax = 2 * nside
    spec = spectra.masked_spectra(
        t_pp,
        p_pp,
        apod,
        lmax=lmax,
        truth_resolution=ilc if protocol == "matched" else Resolution(),
        prediction_resolution=ilc,
        coupling=coupling,
    )
    edges = spectra.bin_edges(2, lmax, 30)
    pred_b = spectra.bin_spectrum(spec["prediction"], edges)
    out.update(spectra.spectrum_metrics(pred_b, spectra.bin_spectrum(theory, edges), "theory"))
    out.update(spectra.spectrum_metrics(pred_b, spectra.bin_spectrum(spec["truth"], edges), "real"))
    return out


def _bench(nside: int) -> dict:
    from cmbml.analysis.master import Coupling

    truth, pred, mask, apod, theory = _inputs(nside)
    start = time.perf_counter()
    coupling = Coupling.from_weight(apod)
    coupling_s = time.perf_counter() - start
    start = time.perf_counter()
    _analyse(truth, pred, mask, apod, coupling, theory, nside, "matched")  # warm caches
    setup = time.perf_counter() - start
    result = {"nside": nside, "coupling_s": coupling_s, "setup_s": setup}
    for protocol in ("matched", "published"):
        start = time.perf_counter()
        for _ in range(N_TIMED):
            _analyse(truth, pred, mask, apod, coupling, theory, nside, protocol)
        result[f"wall_s_{protocol}"] = (time.perf_counter() - start) / N_TIMED
    result["wall_s"] = result["wall_s_matched"]
    result["target_s"] = 2.0 if nside == 512 else None
    return result


@benchmark("analysis.per_sim.nside128")
def per_sim_128() -> dict:
    return _bench(128)


@benchmark("analysis.per_sim.nside512")
def per_sim_512() -> dict:
    return _bench(512)
