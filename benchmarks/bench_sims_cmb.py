"""CAMB cost per simulation spectrum, and the noise/mask products, for the three scenarios.

``sims.camb.nside{N}``: one lensed spectrum (TT, EE, BB, TE) to ``lmax = 3 N`` (the maps' band
limit: demo 192, paper_128 384, paper_512 1536) with the settings of
:func:`cmbml.sims.cmb.camb_accuracy`: ``wall_s`` with ``"temperature"`` (TT within 0.1 % of a
converged run; the default for intensity-only maps), ``polarization_s`` with
``"polarization"`` (all four within 0.1 %; the default with Q, U), and ``previous_s`` with the
earlier default (l to 6 N + 700, lens_potential_accuracy 2, boosted). ``*_cpu_s`` are the
process CPU times of the same calls (robust to a shared machine). CAMB runs single-threaded
here (``threads=1``), as in the serial demo or a pool of one-thread workers, after one untimed
call (CAMB's once-per-process set-up, ~0.6 s, is paid once per worker, not per spectrum).

``sims.noise_mask.nside{N}``: sigma maps with the scan-depth pattern for the nine detectors, one
white + 1/f noise realisation each (every band's knee), and the foreground mask with its C1
apodisation; ``noise_cpu_over_floor`` is the noise's CPU time over that of its 1/f syntheses
(:func:`benchmarks.floor.noise_plan`, timed alone in the same process).
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.floor import noise_plan, over_floor
from benchmarks.registry import benchmark

PLANCK = {
    "cosmomc_theta": 0.0104092,
    "ombh2": 0.02237,
    "omch2": 0.12,
    "tau": 0.0544,
    "As": 2.1e-9,
    "ns": 0.9649,
    "mnu": 0.06,
    "nnu": 3.046,
}
PREVIOUS = {
    "lens_potential_accuracy": 2,
    "lens_margin": 700,
    "lAccuracyBoost": 1.5,
    "LensingBoost": 2.0,
    "IntkAccuracyBoost": 2.0,
    "SourcekAccuracyBoost": 1.5,
    "AccurateBB": True,
}


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _camb(nside: int) -> dict:
    from cmbml.sims.cmb import lensed_cls

    lmax = 3 * nside
    out = {"lmax": lmax}
    lensed_cls(PLANCK, lmax, accuracy="temperature", threads=1)
    runs = {
        "": lambda: lensed_cls(PLANCK, lmax, accuracy="temperature", threads=1),
        "polarization_": lambda: lensed_cls(PLANCK, lmax, accuracy="polarization", threads=1),
        "previous_": lambda: lensed_cls(PLANCK, 6 * nside, accuracy=PREVIOUS, threads=1),
    }
    for prefix, fn in runs.items():
        out[f"{prefix}wall_s"], out[f"{prefix}cpu_s"] = _timed(fn)
    out["polarization_s"] = out.pop("polarization_wall_s")
    out["previous_s"] = out.pop("previous_wall_s")
    return out


for _nside in (64, 128, 512):
    benchmark(f"sims.camb.nside{_nside}")(lambda nside=_nside: _camb(nside))


def _noise_mask(nside: int) -> dict:
    import healpy as hp

    from cmbml.sims.instrument import load_detectors
    from cmbml.sims.mask import apodize_c1, foreground_mask
    from cmbml.sims.noise import correlated_noise, scan_depth_weights, sigma_maps

    dets = load_detectors()
    _, b = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)
    fg = np.exp(-np.abs(b) / 10.0) + 0.01
    t0, cpu0 = time.perf_counter(), time.process_time()
    weights = scan_depth_weights(nside)
    rng = np.random.default_rng(0)
    for det in dets.values():
        sigma = sigma_maps(det.noise_levels("IQU"), nside, weights)
        correlated_noise(sigma, rng, det.ell_knee, det.alpha_knee, nthreads=1)
    t_noise, cpu_noise = time.perf_counter() - t0, time.process_time() - cpu0
    mask = foreground_mask(fg, 0.78, 180.0)
    apodize_c1(mask, 3.0)
    noise = {"cpu_s": cpu_noise, "wall_s": t_noise}
    polarised = [len(d.noise_levels("IQU")) == 3 for d in dets.values()]
    floor = over_floor(noise, noise_plan(nside, polarised))
    return {
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
        "noise_s": t_noise,
        "noise_cpu_s": cpu_noise,
        "noise_floor_cpu_s": floor["floor_cpu_s"],
        "noise_cpu_over_floor": floor["cpu_over_floor"],
        "noise_wall_over_floor": floor["wall_over_floor"],
        "nside": nside,
    }


for _nside in (64, 128, 512, 1024):
    benchmark(f"sims.noise_mask.nside{_nside}")(lambda nside=_nside: _noise_mask(nside))
