"""CNILC as CMB-ML runs PyILC: the analysis mask in the covariance, weights only where it is 1,
and PyILC's refusal when a scale has too few modes for the ILC-bias tolerance.

The reference spells out PyILC's masked covariance (its ``mask_before_covariance_computation``)
with explicit real-space smoothing operators: per scale, the binary mask ``m`` at the scale's
resolution, ``f = K m``, masked maps ``A_a = m x_a``, local means ``m K[A_a] / f`` and covariance
``K[(A_a - mean_a)(A_b - mean_b)] / f``; weights solved on the unmasked pixels only and zero
elsewhere.
"""

import healpy as hp
import numpy as np
import pandas as pd
import pytest

from cmbml.core import Catalog, ConfigError, run_pipeline
from cmbml.ilc import cosine_needlet_windows, ilc_bias_fwhm, needlet_ilc
from cmbml.ilc.stages.pyilc_predict import ilc_call

from .sky import make_sky
from .test_needlet_bruteforce import (
    BEAMS,
    ELLPEAKS,
    FREQS,
    LMAX,
    NSIDE,
    OUT_FWHM,
    TOL,
    kernel_matrices,
)
from .test_stage import BANDS, CENTRES, PRED, compose_pyilc
from .test_stage import BEAMS as STAGE_BEAMS

FWHM_PER_SIGMA = np.sqrt(8 * np.log(2))


def pyilc_kernel_fwhms(windows, n_freq, tol):
    """PyILC's mode counting: FWHM of sigma = sqrt(2 |1 - n_freq| / (N_modes tol)), radians."""
    ell = np.arange(windows.shape[1])
    n_modes = np.sum((2 * ell + 1) * windows**2, axis=1)
    return FWHM_PER_SIGMA * np.sqrt(2 * abs(1 - n_freq) / (n_modes * tol))


def pyilc_masked_nilc(maps, beams, mask, kernels):
    """Per-scale weights ``(n_scales, n_freq, npix)`` and the output map, PyILC's way."""
    windows = cosine_needlet_windows(ELLPEAKS)
    alms = [hp.map2alm(m, lmax=LMAX, iter=0) for m in maps]
    out_alm = np.zeros_like(alms[0])
    m = (mask != 0).astype(float)
    kept = m == 1
    all_weights = []
    for h, kern in zip(windows, kernels, strict=True):
        x = np.array(
            [
                hp.alm2map(
                    hp.almxfl(
                        a,
                        h
                        * hp.gauss_beam(np.radians(OUT_FWHM / 60), LMAX)
                        / hp.gauss_beam(np.radians(b / 60), LMAX),
                    ),
                    NSIDE,
                    lmax=LMAX,
                )
                for a, b in zip(alms, beams, strict=True)
            ]
        )
        fsky = kern @ m
        fskyinv = np.where(fsky != 0, 1.0 / np.where(fsky != 0, fsky, 1.0), 1e100)
        masked = m * x
        local_mean = m * fskyinv * (kern @ masked.T).T
        resid = masked - local_mean
        products = resid[:, None, :] * resid[None, :, :]  # (a, b, q)
        cov = np.moveaxis(products @ kern.T, -1, 0) * fskyinv[:, None, None]  # K is symmetric
        weights = np.zeros_like(x)
        inv_a = np.linalg.solve(cov[kept], np.ones((kept.sum(), len(beams), 1)))[..., 0]
        weights[:, kept] = (inv_a / inv_a.sum(axis=1, keepdims=True)).T
        all_weights.append(weights)
        combined = np.sum(weights * x, axis=0)
        out_alm += hp.almxfl(hp.map2alm(combined, lmax=LMAX, iter=0), h)
    return np.array(all_weights), hp.alm2map(out_alm, NSIDE, lmax=LMAX)


def masked_nilc(mask, **options):
    """The test sky's NILC with ``mask`` (niter 0, as the reference), and its scales."""
    sky = make_sky(NSIDE, LMAX, FREQS, BEAMS, seed=5, noise_uk=3.0, output_fwhm_arcmin=OUT_FWHM)
    out, scales = needlet_ilc(
        sky["total"],
        BEAMS,
        ellpeaks=ELLPEAKS,
        output_fwhm_arcmin=OUT_FWHM,
        ilc_bias_tol=TOL,
        mask=mask,
        niter=0,
        return_weights=True,
        **options,
    )
    return sky, out, scales


@pytest.fixture(scope="module")
def galactic_cut():
    theta, _ = hp.pix2ang(NSIDE, np.arange(12 * NSIDE**2))
    return (np.abs(np.pi / 2 - theta) > np.radians(20)).astype(float)


def test_masked_cnilc_matches_pyilc_masked_covariance(galactic_cut):
    sky, out, scales = masked_nilc(
        galactic_cut, zero_masked_weights=True, override_ilc_bias_tol=False
    )
    fwhms = pyilc_kernel_fwhms(cosine_needlet_windows(ELLPEAKS), len(FREQS), TOL)
    kernels = kernel_matrices(NSIDE, fwhms)
    ref_weights, ref_map = pyilc_masked_nilc(sky["total"], BEAMS, galactic_cut, kernels)

    assert all(s.nside == NSIDE and s.channels.size == len(FREQS) for s in scales)
    for s, ref, fwhm in zip(scales, ref_weights, fwhms, strict=True):
        assert s.fwhm_arcmin == pytest.approx(np.degrees(fwhm) * 60, rel=1e-12)
        assert np.abs(s.weights - ref).max() < 1e-8 * np.abs(ref).max()
        assert np.all(s.weights[:, galactic_cut == 0] == 0)
    assert np.abs(out - ref_map).max() < 1e-8 * np.abs(ref_map).max()


def test_cmbml_default_keeps_weights_in_the_masked_pixels(galactic_cut):
    _, _, scales = masked_nilc(galactic_cut)
    # unit response to the CMB in every pixel, masked ones included
    for s in scales:
        assert np.allclose(s.weights.sum(axis=0), 1.0, atol=1e-10)


def test_needlet_ilc_refuses_a_scale_with_too_few_modes_as_pyilc_does():
    sky = make_sky(NSIDE, LMAX, FREQS, BEAMS, seed=6, output_fwhm_arcmin=OUT_FWHM)
    kwargs = dict(ellpeaks=ELLPEAKS, output_fwhm_arcmin=OUT_FWHM, ilc_bias_tol=1e-3)
    # the first window has ~60 modes: sigma = sqrt(2 * 3 / (60 * 1e-3)) ~ 10 rad > pi
    with pytest.raises(ValueError, match=r"needlet scale 0 \(T\).*not enough modes"):
        needlet_ilc(sky["total"], BEAMS, override_ilc_bias_tol=False, **kwargs)
    out = needlet_ilc(sky["total"], BEAMS, **kwargs)  # cmbml's default: the kernel is capped
    assert np.all(np.isfinite(out))


def test_ilc_bias_fwhm_refuses_or_caps_at_sigma_pi():
    window = cosine_needlet_windows([10])[0]
    with pytest.raises(ValueError, match="not enough modes"):
        ilc_bias_fwhm(window, 8, ilc_bias_tol=1e-3, override_ilc_bias_tol=False)
    capped = ilc_bias_fwhm(window, 8, ilc_bias_tol=1e-3)
    assert capped == pytest.approx(np.degrees(FWHM_PER_SIGMA * np.pi) * 60)
    # enough modes: both give PyILC's kernel
    wide = cosine_needlet_windows([200, 400])[1]
    assert ilc_bias_fwhm(wide, 8, override_ilc_bias_tol=False) == ilc_bias_fwhm(wide, 8)


def test_pyilc_predict_with_cnilc_cmbml_uses_the_mask_and_zero_weights(tmp_path):
    cfg = compose_pyilc(
        "cnilc_cmbml",
        [
            f"local_system.datasets_root={tmp_path}",
            "scenario=demo",
            "splits.Test.n_sims=1",
            "pipeline.stages=[pyilc_predict]",
            "dataset.pixel_window=false",  # tests/ilc/sky.py beams the maps, no pixel window
            "+model.pyilc.presets.64={ellpeaks:[80,140,191]}",
            f"++catalog.pyilc_cmb_map_pred.path='{PRED}'",
            "++catalog.pyilc_cmb_map_pred.handler=healpix_map",
        ],
    )
    nside = int(cfg.scenario.nside)
    catalog = Catalog.from_config(cfg)
    table = pd.DataFrame({"band": BANDS, "center_ghz": CENTRES, "fwhm_arcmin": STAGE_BEAMS})
    catalog.handler("detector_table").write(catalog.path("detector_table"), table)
    sky = make_sky(nside, 2 * nside, CENTRES, STAGE_BEAMS, seed=9, output_fwhm_arcmin=20.6)
    for band, obs in zip(BANDS, sky["total"], strict=True):
        catalog.handler("obs_map").write(
            catalog.path("obs_map", split="Test", sim=0, freq=band), obs
        )
    theta, _ = hp.pix2ang(nside, np.arange(12 * nside**2))
    mask = (np.abs(np.pi / 2 - theta) > np.radians(15)).astype(float)
    catalog.handler("mask").write(catalog.path("mask"), mask, unit="")

    run_pipeline(cfg)

    out = catalog.handler("pyilc_cmb_map_pred").read(
        catalog.path("pyilc_cmb_map_pred", split="Test", sim=0, working=cfg.model.pyilc.working)
    )
    stored = np.array(
        [
            catalog.handler("obs_map").read(catalog.path("obs_map", split="Test", sim=0, freq=b))
            for b in BANDS[1:]
        ]
    )
    direct = needlet_ilc(
        stored,
        STAGE_BEAMS[1:],
        ellpeaks=[80, 140, 191],
        output_fwhm_arcmin=20.6,
        mask=mask,
        zero_masked_weights=True,
        override_ilc_bias_tol=False,
    )
    assert np.abs(out - direct).max() < 1e-5 * np.abs(direct).max()
    # zero weights in the mask: the output there is a small leakage of the kept sky
    inside = mask == 0
    assert np.std(out[inside]) < 0.2 * np.std(out[~inside])
    kept = ~inside
    assert np.std(out[kept] - sky["truth"][kept]) < 0.1 * np.std(sky["truth"][kept])


def test_cnilc_cmbml_refuses_zero_masked_weights_without_the_mask():
    model = {
        "method": "cnilc",
        "output_fwhm_arcmin": 20.6,
        "zero_masked_weights": True,
        "use_mask": False,
        "presets": {"512": {"ellpeaks": [200, 715, 1025]}},
    }
    with pytest.raises(ConfigError, match="use_mask"):
        ilc_call(model, 512, [100.0, 143.0])
