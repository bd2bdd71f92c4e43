"""Synthetic foreground templates: Gaussian fields, angular slopes, physical ranges, seeding."""

import healpy as hp
import numpy as np
import pytest
from scipy import stats

from cmbml.sims.galaxy import galactic_profile
from cmbml.sims.polarisation import limit_polarisation
from cmbml.sims.templates import gaussian_alm, make_templates, power_law_cl
from tests.sims.skyconfig import galactic_components as default_components
from tests.sims.skyconfig import galaxy, high_latitude_window


def abs_latitude_deg(nside):
    _, _, z = hp.pix2vec(nside, np.arange(hp.nside2npix(nside)))
    return np.degrees(np.arcsin(np.abs(z)))


def test_power_law_cl_has_unit_variance_to_infinity():
    for slope in (-2.42, -3.0):
        ell_max = 2_000_000
        cl = power_law_cl(slope, ell_max)
        ell = np.arange(ell_max + 1)
        partial = np.sum((2 * ell + 1) * cl) / (4 * np.pi)
        # tail beyond ell_max: integral of (2l + 1) l^slope / (4 pi V), V from cl[2] = 2^slope / V
        norm = 2.0**slope / cl[2]
        tail = (2 * ell_max ** (slope + 2) / -(slope + 2)) / (4 * np.pi * norm)
        assert partial + tail == pytest.approx(1.0, rel=2e-4)
    with pytest.raises(ValueError, match="cl_slope"):
        power_law_cl(-2.0, 10)


def test_gaussian_alm_has_requested_power():
    lmax = 200
    cl = power_law_cl(-2.5, lmax)
    alm = gaussian_alm(cl, lmax, np.random.default_rng(3))
    measured = hp.alm2cl(alm)
    ell = np.arange(2, lmax + 1)
    # (2l + 1) C_hat / C ~ chi2 with 2l + 1 dof: the total is chi2 with sum(2l + 1) dof
    chi2 = np.sum((2 * ell + 1) * measured[2:] / cl[2:])
    dof = np.sum(2 * ell + 1)
    assert stats.chi2.sf(chi2, dof) > 1e-3 and stats.chi2.cdf(chi2, dof) > 1e-3
    assert np.all(measured[:2] == 0)
    m0 = hp.Alm.getlm(lmax)[1] == 0
    assert np.all(alm[m0].imag == 0)


def test_gaussian_alm_low_multipoles_do_not_depend_on_lmax():
    small = gaussian_alm(np.ones(33), 32, np.random.default_rng(11))
    large = gaussian_alm(np.ones(129), 128, np.random.default_rng(11))
    ell_s, m_s = hp.Alm.getlm(32)
    assert np.array_equal(small, large[hp.Alm.getidx(128, ell_s, m_s)])


def test_galactic_profile_shape():
    nside = 32
    tcfg = {
        "amplitude": 10.0,
        "disk_epsilon": 0.05,
        "slab_index": 1.5,
        "center_boost": 3.0,
        "center_width_deg": [30.0, 10.0],
    }
    prof = galactic_profile(nside, tcfg)
    absb = abs_latitude_deg(nside)
    assert np.all(prof > 0)
    assert prof[absb > 85].mean() == pytest.approx(10.0, rel=0.01)
    pix = hp.ang2pix(nside, [0.0, 180.0, 90.0, 20.0], [0.0, 0.0, -30.0, 5.0], lonlat=True)
    lon, lat = hp.pix2ang(nside, pix, lonlat=True)
    slab = ((1 + 0.05**2) / (np.sin(np.radians(lat)) ** 2 + 0.05**2)) ** 0.75
    dlon = (lon + 180) % 360 - 180
    boost = 1 + 3.0 * np.exp(-0.5 * ((dlon / 30.0) ** 2 + (lat / 10.0) ** 2))
    assert np.allclose(prof[pix], 10.0 * slab * boost, rtol=1e-5)  # float32 pixel vectors
    with pytest.raises(ValueError, match="disk_epsilon"):
        galactic_profile(nside, {"amplitude": 1.0, "disk_epsilon": 0.0})


def test_polarisation_fraction_bounds_and_mean():
    rng = np.random.default_rng(5)
    q, u = rng.standard_normal((2, 200_000))
    intensity = rng.uniform(1.0, 100.0, q.size)
    envelope = intensity * rng.uniform(0.5, 2.0, q.size)
    qu = limit_polarisation(envelope, intensity, q + 1j * u, 0.07, 0.2)
    frac = np.hypot(*qu) / intensity
    assert frac.max() <= 0.2
    assert frac.mean() == pytest.approx(0.07, rel=1e-6)
    # small fractions are not limited: p = k |pattern| envelope / I with one k
    k = frac / (np.hypot(q, u) * envelope / intensity)
    small = frac < 0.01
    assert np.allclose(k[small], np.median(k[small]), rtol=2e-3)
    angle = 0.5 * np.arctan2(qu[1], qu[0])
    assert np.allclose(angle, 0.5 * np.arctan2(u, q))
    with pytest.raises(ValueError, match="frac_mean"):
        limit_polarisation(envelope, intensity, q + 1j * u, 0.2, 0.1)


def _pseudo_slope(maps, nside, pol):
    """Slope of the pseudo-C_l over 20 <= l <= nside on an apodised |b| > 25..45 deg mask
    without the clouds."""
    w = high_latitude_window(nside, min_b_deg=25.0, taper_deg=20.0)
    lmax = 3 * nside - 1
    cls = hp.anafast(maps * w, lmax=lmax, pol=pol, iter=0) / np.mean(w**2)
    cls = np.atleast_2d(cls)
    ell = np.arange(lmax + 1)
    sel = (ell >= 20) & (ell <= nside)
    return [np.polyfit(np.log(ell[sel]), np.log(c[sel]), 1)[0] for c in cls[:3]]


def test_template_spectra_follow_configured_slopes():
    nside = 128
    cfg = default_components()
    for c in cfg.values():  # the random fields alone: no clouds, no Loop I
        c["template"].pop("structures", None)
    templates = make_templates(cfg, nside, seed=1, galaxy=galaxy())
    for name, t in templates.items():
        if t.polarised:
            tt, ee, bb = _pseudo_slope(t.maps, nside, pol=True)
            slope_p = cfg[name]["polarisation"]["cl_slope"]
            assert ee == pytest.approx(slope_p, abs=0.25), (name, "EE")
            assert bb == pytest.approx(slope_p, abs=0.25), (name, "BB")
        else:
            (tt,) = _pseudo_slope(t.maps[0], nside, pol=False)
        assert tt == pytest.approx(cfg[name]["template"]["cl_slope"], abs=0.25), (name, "TT")


def test_templates_are_physical():
    nside = 64
    cfg = default_components()
    templates = make_templates(cfg, nside, seed=2, galaxy=galaxy())
    assert list(templates) == ["dust", "synchrotron", "free_free", "ame"]
    absb = abs_latitude_deg(nside)
    for name, t in templates.items():
        tcfg = cfg[name]
        assert t.maps.shape == ((3 if "polarisation" in tcfg else 1), hp.nside2npix(nside))
        assert np.all(t.maps[0] > 0), name
        assert np.median(t.maps[0][absb < 5]) > 5 * np.median(t.maps[0][absb > 60]), name
        if t.polarised:
            frac = np.hypot(t.maps[1], t.maps[2]) / t.maps[0]
            assert frac.max() <= tcfg["polarisation"]["frac_max"]
            assert frac.mean() == pytest.approx(tcfg["polarisation"]["frac_mean"], rel=0.15)
        for pname, pcfg in tcfg["params"].items():
            value = t.params[pname]
            if pcfg.get("std", 0) == 0:
                assert value == pcfg["mean"]
            else:
                assert value.shape == (hp.nside2npix(nside),)
                assert value.mean() == pytest.approx(pcfg["mean"], abs=pcfg["std"])
                assert value.std() == pytest.approx(pcfg["std"], rel=0.3)
    dust = templates["dust"]
    assert 5.0 < np.median(dust.maps[0][absb > 60]) < 40.0  # uK_RJ at 353 GHz
    assert not dust.uniform_sed and templates["free_free"].uniform_sed
    # AME follows the dust
    assert np.corrcoef(np.log(templates["ame"].maps[0]), np.log(dust.maps[0]))[0, 1] > 0.9


def test_templates_seeded_and_consistent_across_resolutions():
    cfg = default_components()
    a = make_templates(cfg, 32, seed=4, galaxy=galaxy())
    b = make_templates(cfg, 32, seed=4, galaxy=galaxy())
    c = make_templates(cfg, 32, seed=5, galaxy=galaxy())
    for name in a:
        assert np.array_equal(a[name].maps, b[name].maps)
        assert not np.allclose(a[name].maps, c[name].maps)
    fine = make_templates(cfg, 64, seed=4, galaxy=galaxy())
    for name in ("dust", "synchrotron"):
        coarse_log = np.log(a[name].maps[0])
        fine_log = hp.ud_grade(np.log(fine[name].maps[0]), 32)
        assert np.corrcoef(coarse_log, fine_log)[0, 1] > 0.95, name
    # dropping a component leaves the others unchanged
    only_sync = make_templates({"synchrotron": cfg["synchrotron"]}, 32, seed=4, galaxy=galaxy())
    assert np.array_equal(only_sync["synchrotron"].maps, a["synchrotron"].maps)


def test_bad_template_config_is_named():
    cfg = default_components()
    del cfg["dust"]["template"]["amplitude"]
    with pytest.raises(KeyError, match="amplitude"):
        make_templates({"dust": cfg["dust"]}, 8, seed=0)
    cfg = default_components()
    with pytest.raises(ValueError, match="tracer"):
        make_templates({"ame": cfg["ame"]}, 8, seed=0)
    cfg["dust"]["law"] = "blackbody"
    with pytest.raises(ValueError, match="law"):
        make_templates({"dust": cfg["dust"]}, 8, seed=0)
    cfg = default_components()
    del cfg["dust"]["params"]["temperature"]
    with pytest.raises(KeyError, match="temperature"):
        make_templates({"dust": cfg["dust"]}, 8, seed=0)
