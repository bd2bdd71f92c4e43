"""Analysis cost per simulation: post-processing, pixel metrics and MASTER power spectra.

One simulation's analysis compute (no file I/O) in each scoring protocol: ``matched`` (truth and
prediction both through a transform to the common 20.6 arcmin beam and pixel window, l <= 2
nside) and ``published`` (no transform). Then: monopole and dipole removed on the unmasked sky,
mask, the six pixel metrics, the MASTER spectra of truth, prediction and residual to l = 2 nside
with the mask's coupling matrices (computed once per mask, as the analysis_mask stage does, and
reported as ``coupling_s``: it is not part of the per-simulation cost), binning and the spectrum
metrics. One-off per-process costs (pixel window, pixel vectors, the matrix inversions on first
use) are excluded from ``wall_s`` and reported as ``setup_s``. Target: < 2 s per simulation at
nside 512.

The ``per_sim_iqu`` benchmarks time the same simulation as intensity only and as I, Q, U (pixel
metrics of I, Q, U and P; spectra TT, EE, BB, TE with the spin-2 coupling matrices) in one
process: ``wall_s`` is the I, Q, U cost and ``ratio_to_i`` its ratio to the intensity-only one.
"""

import time
from pathlib import Path

import numpy as np

from benchmarks.registry import benchmark

COMMON_FWHM = 20.6
N_TIMED = 3


def _inputs(nside: int, pol: bool = False):
    """Truth (unbeamed), a prediction (20.6 arcmin, pixel window, white noise), a galactic cut
    and its apodised weight, the theory D_l (TT, EE, BB, TE) from l = 2 to 2 nside."""
    import healpy as hp

    from cmbml import sphere
    from cmbml.analysis.postprocess import Resolution, postprocess_map

    table = np.loadtxt(Path(hp.__file__).parent / "data" / "totcls.dat")  # l <= 2000
    lmax = 3 * nside - 1
    table = np.pad(table, ((0, max(0, lmax + 1 - len(table))), (0, 0)), mode="edge")
    ell = np.arange(lmax + 1)
    to_cl = np.zeros(lmax + 1)
    to_cl[2:] = 2 * np.pi / (ell[2:] * (ell[2:] + 1))
    rng = np.random.default_rng(0)
    alms = []
    for column in (1, 2, 3) if pol else (1,):  # T, E, B (uncorrelated: timing only)
        alm = rng.standard_normal(sphere.nalm(lmax)) + 1j * rng.standard_normal(sphere.nalm(lmax))
        alms.append(sphere.almxfl(alm / np.sqrt(2.0), np.sqrt(table[: lmax + 1, column] * to_cl)))
    truth = (
        sphere.alm2map(np.stack(alms), nside, lmax, pol=True)
        if pol
        else sphere.alm2map(alms[0], nside, lmax)
    )
    z = np.abs(hp.pix2vec(nside, np.arange(12 * nside**2))[2])
    mask = (z > 0.3).astype(float)
    ilc = Resolution(COMMON_FWHM, True)
    beamed = postprocess_map(
        truth, np.ones(mask.size), resolution=Resolution(), common_resolution=ilc,
        lmax_compare=lmax,
    )  # fmt: skip
    pred = beamed + rng.normal(0, 5.0, truth.shape) * (
        np.array([[1.0], [0.1], [0.1]]) if pol else 1
    )
    apod = mask * 0.5 * (1 - np.cos(np.pi * np.clip((z - 0.3) / 0.15, 0, 1)))
    theory = {
        k: table[2 : 2 * nside + 1, c] for k, c in (("TT", 1), ("EE", 2), ("BB", 3), ("TE", 4))
    }
    return truth, pred, mask, apod, theory


def _analyse(truth, pred, mask, apod, coupling, theory, nside, protocol):
    from cmbml.analysis import spectra
    from cmbml.analysis.metrics import field_metrics
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
    pol = truth.ndim == 2
    fields = ("I", "Q", "U") if pol else ("I",)
    out = field_metrics(t_pp, p_pp, mask > 0, fields, amplitude=True)
    lmax = 2 * nside
    spec = spectra.masked_field_spectra(
        t_pp,
        p_pp,
        apod,
        lmax=lmax,
        truth_resolution=ilc if protocol == "matched" else Resolution(),
        prediction_resolution=ilc,
        coupling=coupling,
    )
    edges = spectra.bin_edges(2, lmax, 30)
    for key in ("TT", "EE", "BB", "TE") if pol else ("TT",):
        pred_b = spectra.bin_spectrum(spec[key]["prediction"], edges)
        truth_b = spectra.bin_spectrum(spec[key]["truth"], edges)
        out[key] = {
            **spectra.spectrum_metrics(pred_b, spectra.bin_spectrum(theory[key], edges), "theory"),
            **spectra.spectrum_metrics(pred_b, truth_b, "real"),
        }
    return out


def _bench(nside: int, pol: bool = False) -> dict:
    from cmbml.analysis.master import Coupling

    truth, pred, mask, apod, theory = _inputs(nside, pol)
    start = time.perf_counter()
    coupling = Coupling.from_weight(apod, spin2=pol)
    coupling_s = time.perf_counter() - start
    start = time.perf_counter()
    _analyse(truth, pred, mask, apod, coupling, theory, nside, "matched")  # warm caches
    setup = time.perf_counter() - start
    result = {"nside": nside, "coupling_s": coupling_s, "setup_s": setup}
    for protocol in ("matched", "published"):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(N_TIMED):
            _analyse(truth, pred, mask, apod, coupling, theory, nside, protocol)
        result[f"wall_s_{protocol}"] = (time.perf_counter() - start) / N_TIMED
        result[f"cpu_s_{protocol}"] = (time.process_time() - cpu) / N_TIMED
    result["wall_s"] = result["wall_s_matched"]
    result["cpu_s"] = result["cpu_s_matched"]
    result["target_s"] = 2.0 if nside == 512 else None
    return result


def _bench_iqu(nside: int) -> dict:
    """I and I, Q, U of the same sky: the cost of polarisation relative to intensity."""
    i_only, iqu = _bench(nside, pol=False), _bench(nside, pol=True)
    result = {"nside": nside, **{f"{k}_i": v for k, v in i_only.items() if k != "nside"}}
    result.update({k: v for k, v in iqu.items() if k != "nside"})
    for protocol in ("matched", "published"):
        result[f"ratio_to_i_{protocol}"] = iqu[f"wall_s_{protocol}"] / i_only[f"wall_s_{protocol}"]
    result["ratio_to_i"] = result["ratio_to_i_matched"]
    result["coupling_ratio_to_i"] = iqu["coupling_s"] / i_only["coupling_s"]
    return result


for _nside in (64, 128, 512, 1024):
    benchmark(f"analysis.per_sim.nside{_nside}")(lambda nside=_nside: _bench(nside))


@benchmark("analysis.per_sim_iqu.nside128")
def per_sim_iqu_128() -> dict:
    return _bench_iqu(128)


@benchmark("analysis.per_sim_iqu.nside512")
def per_sim_iqu_512() -> dict:
    return _bench_iqu(512)
