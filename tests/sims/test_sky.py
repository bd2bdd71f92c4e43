"""Sky assembly: beams and pixel window, band-limited synthesis, foreground transforms."""

import healpy as hp
import numpy as np
import pytest

from cmbml import sphere
from cmbml.sims.extragalactic import make_extragalactic
from cmbml.sims.foregrounds import ForegroundModel, model_from_config
from cmbml.sims.sky import (
    beamed_foreground_maps,
    cmb_truth_map,
    detector_maps,
    foreground_alms,
    sky_maps,
)
from cmbml.sims.templates import gaussian_alm, make_templates
from tests.sims.skyconfig import config, galactic_components, galaxy

NSIDE = 16
LMAX = 3 * NSIDE - 1
FREQS = [28.4, 100.89, 357.5, 866.8]
FWHM = [300.0, 200.0, 150.0, 0.0]
POL = [True, True, True, False]


def full_model(seed):
    """The default foreground sky (galactic and extragalactic, with point sources)."""
    return model_from_config(config(), 2 * NSIDE, seed)


def cmb_alm(lmax, seed=0):
    """T, E, B alm with a red spectrum and TE correlation (a CMB stand-in)."""
    rng = np.random.default_rng(seed)
    ell = np.arange(lmax + 1)
    cl = np.zeros(lmax + 1)
    cl[2:] = 1e3 / ell[2:] ** 2
    t = gaussian_alm(cl, lmax, rng)
    e = 0.3 * t + gaussian_alm(0.05 * cl, lmax, rng)
    b = gaussian_alm(0.01 * cl, lmax, rng)
    return np.stack([t, e, b])


def test_beamed_spectrum_ratio_follows_beam_and_pixel_window():
    alm = cmb_alm(LMAX, seed=1)
    fwhm = 180.0
    truth = cmb_truth_map(alm, NSIDE, LMAX)
    (beamed,) = detector_maps([alm], [fwhm], NSIDE, LMAX)
    cl_truth = hp.anafast(truth, lmax=LMAX, iter=5)
    cl_beamed = hp.anafast(beamed, lmax=LMAX, iter=5)
    ell = np.arange(LMAX + 1)
    sigma = np.radians(fwhm / 60) / np.sqrt(8 * np.log(2))
    b_t = np.exp(-0.5 * ell * (ell + 1) * sigma**2)
    b_p = b_t * np.exp(2 * sigma**2)  # spin-2 Gaussian beam
    pixwin = sphere.pixel_window(NSIDE, LMAX)
    sel = slice(2, 3 * NSIDE // 2 + 1)  # where the HEALPix quadrature is accurate
    for k, bl in ((0, b_t), (1, b_p), (2, b_p)):
        ratio = cl_beamed[k][sel] / cl_truth[k][sel]
        assert np.allclose(ratio, (bl * pixwin)[sel] ** 2, rtol=2e-3), k
    assert np.allclose(
        cl_beamed[3][sel] / cl_truth[3][sel], (b_t * b_p * pixwin**2)[sel], rtol=2e-3
    )


def test_synthesis_matches_healpy():
    alm = cmb_alm(LMAX, seed=2)
    truth = cmb_truth_map(alm, NSIDE, LMAX)
    assert np.allclose(truth, hp.alm2map(alm, NSIDE, lmax=LMAX, pol=True), atol=1e-10)
    maps = detector_maps([alm, alm[:1]], [100.0, 40.0], NSIDE, LMAX)
    pixwin = sphere.pixel_window(NSIDE, LMAX)
    bl = hp.gauss_beam(np.radians(100.0 / 60), LMAX, pol=True)
    smoothed = [hp.almxfl(alm[k], bl[:, k] * pixwin) for k in range(3)]
    assert np.allclose(maps[0], hp.alm2map(smoothed, NSIDE, lmax=LMAX, pol=True), atol=1e-10)
    bl_t = hp.gauss_beam(np.radians(40.0 / 60), LMAX)
    expected_t = hp.alm2map(hp.almxfl(alm[0], bl_t * pixwin), NSIDE, lmax=LMAX)
    assert maps[1].shape == (1, 12 * NSIDE**2)
    assert np.allclose(maps[1][0], expected_t, atol=1e-10)


def test_foreground_maps_match_an_independent_healpy_pipeline():
    model = full_model(4)
    assert model.sources and any(t.kind == "cib" for t in model.templates)
    got = beamed_foreground_maps(model, FREQS, FWHM, POL, NSIDE, LMAX)
    pixwin = sphere.pixel_window(NSIDE, LMAX)
    for i, f in enumerate(FREQS):
        emission = model.emission(f, pol=POL[i])
        bl = hp.gauss_beam(np.radians(FWHM[i] / 60), LMAX, pol=True)
        if POL[i]:
            alm = hp.map2alm(emission, lmax=LMAX, iter=0, pol=True)
            alm = [hp.almxfl(alm[k], bl[:, k] * pixwin) for k in range(3)]
            expected = hp.alm2map(alm, NSIDE, lmax=LMAX, pol=True)
        else:
            alm = hp.almxfl(hp.map2alm(emission[0], lmax=LMAX, iter=0), bl[:, 0] * pixwin)
            expected = hp.alm2map(alm, NSIDE, lmax=LMAX)[None]
        scale = np.abs(expected).max()
        assert got[i].shape == expected.shape
        assert np.allclose(got[i], expected, atol=1e-9 * scale), f


def test_uniform_seds_scaled_in_harmonic_space_equal_pixel_space():
    cfg = galactic_components()
    for comp in ("dust", "synchrotron"):
        for p in cfg[comp]["params"].values():
            p["std"] = 0.0
    extra = {
        k: v for k, v in config()["components"].items() if v.get("kind") in ("cib", "tsz", "ksz")
    }
    templates = make_templates(cfg, 2 * NSIDE, seed=5, galaxy=galaxy())
    templates.update(make_extragalactic(extra, 2 * NSIDE, seed=5)[0])
    model = ForegroundModel(templates)
    assert model.uniform_components is not None

    class PixelSpace:  # the same model, forced through per-detector pixel-space emission
        nside = model.nside
        uniform_components = None
        emission = staticmethod(model.emission)

    freqs = FREQS * 2  # more detectors than components: the harmonic path is taken
    pol = POL * 2
    harmonic = foreground_alms(model, freqs, pol, LMAX)
    pixel = foreground_alms(PixelSpace(), freqs, pol, LMAX)
    for a, b in zip(harmonic, pixel, strict=True):
        assert a.shape == b.shape
        assert np.allclose(a, b, rtol=0, atol=1e-9 * np.abs(b).max())


def test_foregrounds_as_maps_or_alms_give_the_same_sky_and_batching_is_invisible():
    model = full_model(6)
    alm = cmb_alm(LMAX, seed=7)
    fg_alms = foreground_alms(model, FREQS, POL, LMAX)
    fg_maps = beamed_foreground_maps(model, FREQS, FWHM, POL, NSIDE, LMAX)
    a = sky_maps(alm, FWHM, POL, NSIDE, LMAX, fg_alms=fg_alms)
    b = sky_maps(alm, FWHM, POL, NSIDE, LMAX, fg_maps=fg_maps)
    tiny = sky_maps(alm, FWHM, POL, NSIDE, LMAX, fg_alms=fg_alms, max_batch_bytes=1)
    small_fg = foreground_alms(model, FREQS, POL, LMAX, max_batch_bytes=1)
    for i in range(len(FREQS)):
        assert np.allclose(a[i], b[i], atol=1e-9 * np.abs(a[i]).max())
        assert np.array_equal(a[i], tiny[i])
        assert np.array_equal(fg_alms[i], small_fg[i])
    # CMB alone = sky minus foregrounds
    cmb_only = sky_maps(alm, FWHM, POL, NSIDE, LMAX)
    for i in range(len(FREQS)):
        assert np.allclose(a[i] - fg_maps[i], cmb_only[i], atol=1e-9 * np.abs(a[i]).max())


def test_sky_maps_reject_bad_input():
    alm = cmb_alm(LMAX)
    with pytest.raises(ValueError, match="nalm"):
        sky_maps(alm[:, :10], FWHM, POL, NSIDE, LMAX)
    with pytest.raises(ValueError, match="polarised"):
        sky_maps(alm[0], FWHM, POL, NSIDE, LMAX)
    with pytest.raises(ValueError, match="not both"):
        sky_maps(alm, FWHM, POL, NSIDE, LMAX, fg_alms=[], fg_maps=[])
    bad_maps = [np.zeros((3, 12 * 8**2))] * len(FREQS)
    with pytest.raises(ValueError, match="nside"):
        sky_maps(alm, FWHM, POL, NSIDE, LMAX, fg_maps=bad_maps)
