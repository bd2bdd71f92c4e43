"""CAMB cost per simulation spectrum, and the noise/mask products, for the three scenarios.

``sims.camb.lmax{L}``: one lensed spectrum (TT, EE, BB, TE) to ``L = 3 * nside_sky``
(demo 384, paper_128 768, paper_512 3072) with the default settings
(:data:`cmbml.sims.cmb.DEFAULT_ACCURACY`, < 0.1 % from a converged run) and, for comparison, with
``lens_potential_accuracy = 1`` and no boosts (``plain_s``: 0.2 % off in EE, 1.8 % in BB). CAMB
runs single-threaded here (``threads=1``), as in a pool of one-thread workers.

``sims.noise_mask.nside{N}``: sigma maps with the scan-depth pattern for the nine detectors, one
white-noise realisation each, and the foreground mask with its C1 apodisation.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.registry import benchmark

PLANCK = {"H0": 67.36, "ombh2": 0.02237, "omch2": 0.12, "tau": 0.0544, "As": 2.1e-9, "ns": 0.9649}


def _camb(lmax: int) -> dict:
    from cmbml.sims.cmb import lensed_cls

    t0 = time.perf_counter()
    lensed_cls(PLANCK, lmax, threads=1)
    fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    lensed_cls(PLANCK, lmax, accuracy={"lens_potential_accuracy": 1, "lens_margin": 500}, threads=1)
    plain = time.perf_counter() - t0
    return {"wall_s": fast, "plain_s": plain, "lmax": lmax}


for _lmax in (384, 768, 3072):
    benchmark(f"sims.camb.lmax{_lmax}")(lambda lmax=_lmax: _camb(lmax))


def _noise_mask(nside: int) -> dict:
    import healpy as hp

    from cmbml.sims.instrument import load_detectors
    from cmbml.sims.mask import apodize_c1, foreground_mask
    from cmbml.sims.noise import scan_depth_weights, sigma_maps, white_noise

    dets = load_detectors()
    _, b = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)
    fg = np.exp(-np.abs(b) / 10.0) + 0.01
    t0 = time.perf_counter()
    weights = scan_depth_weights(nside)
    rng = np.random.default_rng(0)
    for det in dets.values():
        white_noise(sigma_maps(det.noise_levels("IQU"), nside, weights), rng)
    t_noise = time.perf_counter() - t0
    mask = foreground_mask(fg, 0.78, 180.0)
    apodize_c1(mask, 3.0)
    return {"wall_s": time.perf_counter() - t0, "noise_s": t_noise, "nside": nside}


for _nside in (64, 128, 512):
    benchmark(f"sims.noise_mask.nside{_nside}")(lambda nside=_nside: _noise_mask(nside))
