"""The default sky against Planck's measured foreground levels (``data/planck2018_*.csv``).

The default sky is also the training distribution, so its foreground power is checked against
independent published numbers, not against its own configuration:

* thermal dust D_200 at 217 GHz on a 47 % Galactic mask against the dust prior of Planck's
  likelihood (Planck 2018 V);
* Poisson (point-source) power at l = 3000 against the fitted A^PS of Planck's likelihood after
  Planck's point-source masks: sources above the PCCS2 limits are removed as those masks remove
  them, and the white shot-noise C_l, measured at l ~ 30-380 on nside 256, is the C_l at
  l = 3000 (shot noise is flat in C_l; only the clustered CIB needs its l-shape);
* the clustered CIB at l = 3000, 217 GHz, against A^CIB_217;
* the number of bright radio sources against the NEWPS complete sample of WMAP sources;
* the mean polarisation fraction of bright radio sources against the measured ~3 %;
* the low-l excess of the 1/f noise model over its white level against the mean noise spectra
  of Planck's FFP10 noise simulations.
"""

import csv
from pathlib import Path

import healpy as hp
import numpy as np
import pytest

from cmbml.sims.extragalactic import _jy_sr_per_uk_rj, _tabulated_shape, make_point_sources
from cmbml.sims.foregrounds import mbb_sed, model_from_config
from cmbml.sims.instrument import kcmb_to_mjysr, load_detectors
from cmbml.sims.mask import apodize_c1, foreground_mask
from cmbml.sims.noise import one_over_f_shape
from tests.sims.skyconfig import config

DATA = Path(__file__).resolve().parent / "data"
CENTRE = {b: d.center_ghz for b, d in load_detectors(bands=[30, 100, 143, 217, 353]).items()}
# PCCS2 90 % completeness flux densities, Jy (Planck 2015 XXVI, Table 1)
PCCS2_JY = {100: 0.269, 143: 0.177, 217: 0.152}
# Mean polarisation fraction of extragalactic radio sources at 30-143 GHz, ~3 % (Bonavera et al.
# 2017, stacking the PCCS2 sources; Massardi et al. 2013, AT20G at 20 GHz: median ~2.5 %)
RADIO_POL_FRACTION = 0.03


def read_table(name):
    """Rows of a ``data/`` CSV (``#`` lines are its source notes)."""
    with open(DATA / name) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def planck(kind):
    rows = read_table("planck2018_foreground_amplitudes.csv")
    return {(int(r["band1"]), int(r["band2"])): r for r in rows if r["kind"] == kind}


def to_dl(cl_jy2_sr, b1, b2, ell):
    """C_l (Jy^2/sr) of bands b1 x b2 -> D_l in uK_CMB^2 (delta bandpasses at the centres)."""
    return (
        cl_jy2_sr
        / (kcmb_to_mjysr(CENTRE[b1]) * kcmb_to_mjysr(CENTRE[b2]))
        * ell
        * (ell + 1)
        / (2 * np.pi)
    )


def test_dust_d200_at_217_on_a_47_percent_mask_matches_planck_likelihood():
    """Planck 2018 V: A^dust_217 = 91.9 +- 20 uK^2 at l = 200 (effective 47 % of the sky)."""
    cfg = config()
    dust_only = {n: {**c, "enabled": n == "dust"} for n, c in cfg["components"].items()}
    nside = 256
    model = model_from_config({**cfg, "components": dust_only}, nside, seed=1)
    low = hp.ud_grade(model.emission(CENTRE[353], pol=False)[0], 64)
    window = hp.ud_grade(apodize_c1(foreground_mask(low, fsky=0.47), 3.0), nside)
    dust = model.emission(CENTRE[217], pol=False)[0]
    cl = hp.anafast(dust * window, lmax=300, iter=1) / np.mean(window**2)
    ell = np.arange(cl.size)
    d200 = (ell * (ell + 1) * cl / (2 * np.pi))[180:221].mean()
    ref = float(planck("dust")[217, 217]["value"])
    assert d200 == pytest.approx(ref, rel=0.25), d200


@pytest.fixture(scope="module")
def catalogues():
    comps = config()["components"]
    return [make_point_sources(comps[n], n, seed=11) for n in ("radio_sources", "ir_sources")]


def _cib_shot_jy2_sr(b1, b2):
    """Shot noise of the CIB populations of the config (Planck 2013 XXX fit) in b1 x b2."""
    out = 0.0
    for pop in config()["components"]["cib"]["populations"].values():
        if "shot_jy2_sr" in pop:
            scale = [
                mbb_sed(CENTRE[b], 545.0, pop["beta"], pop["temperature"])
                * _jy_sr_per_uk_rj(CENTRE[b])
                / _jy_sr_per_uk_rj(545.0)
                for b in (b1, b2)
            ]
            out += pop["shot_jy2_sr"] * scale[0] * scale[1]
    return out


def _measured_source_shot(catalogues, b1, b2, nside=256):
    """White C_l (Jy^2/sr) of the source maps of b1 x b2 once Planck's masks removed the sources
    above the PCCS2 limit in either band: the mean cross-spectrum over 30 <= l <= 1.5 nside
    (each source is a point at its pixel's centre: a white spectrum, no pixel window)."""
    maps = []
    for b in (b1, b2):
        total = np.zeros(12 * nside**2)
        for cat in catalogues:
            keep = (cat.fluxes(CENTRE[b1]) < PCCS2_JY[b1]) & (cat.fluxes(CENTRE[b2]) < PCCS2_JY[b2])
            pix = hp.vec2pix(nside, *cat.vectors[keep].T)
            total += np.bincount(pix, cat.fluxes(CENTRE[b])[keep], minlength=total.size)
        maps.append(total / hp.nside2pixarea(nside))
    alm = [hp.map2alm(m, lmax=3 * nside // 2, iter=0) for m in maps]
    return hp.alm2cl(*alm)[30:].mean()


@pytest.mark.parametrize(
    ("bands", "tolerance"),
    [((100, 100), 0.25), ((143, 143), 1.5), ((143, 217), 1.5), ((217, 217), 1.5)],
)
def test_poisson_power_at_3000_against_planck(catalogues, bands, tolerance):
    """D_3000 of radio + IR sources below the PCCS2 limits and the CIB shot noise against the
    plik A^PS (Planck 2018 V). 100 GHz (radio) agrees within 25 % (0.90); at 143-217 GHz the
    synthetic sky has 1.4-1.9 times Planck's Poisson power (radio spectra keep one power law
    from 30 GHz, while measured ones steepen above ~100 GHz; the CIB shot noise is Planck 2013
    XXX's), and the test holds that excess below a factor 2.5 so that a change of the
    extragalactic model shows here."""
    shot = _measured_source_shot(catalogues, *bands) + _cib_shot_jy2_sr(*bands)
    d3000 = to_dl(shot, *bands, 3000)
    ref = float(planck("ps")[bands]["value"])
    ratio = d3000 / ref
    assert 1 / (1 + tolerance) < ratio < 1 + tolerance, (bands, d3000, ref)


def test_clustered_cib_at_3000_217_ghz_against_planck():
    """A^CIB_217 (clustered, l = 3000, Planck 2018 V) against the config's Planck 2013 XXX halo
    model: its tabulated shape reaches l = 5000, so l = 3000 needs no extrapolation."""
    cib = config()["components"]["cib"]
    shape = _tabulated_shape(cib["cl_shape"], 3000, "cib")[3000]
    cl = 0.0
    for pop in cib["populations"].values():
        scale = (
            mbb_sed(CENTRE[217], 545.0, pop["beta"], pop["temperature"])
            * _jy_sr_per_uk_rj(CENTRE[217])
            / _jy_sr_per_uk_rj(545.0)
        )
        cl += pop.get("clustered_jy2_sr", 0.0) * shape * scale**2
    ref = float(planck("cib")[217, 217]["value"])
    assert to_dl(cl, 217, 217, 3000) == pytest.approx(ref, rel=0.25)


def test_bright_radio_source_counts_match_wmap():
    """NEWPS (Gonzalez-Nuevo et al. 2008, MNRAS 384, 711): 252 sources of S/N >= 5 and
    S >= 1.1 Jy at 23 GHz over |b| > 5 deg, complete, 5 of them Galactic: 247 extragalactic.
    Four independent skies, each within 3 Poisson sigma plus 10 %."""
    cfg = config()["components"]["radio_sources"]
    newps = 247
    for seed in range(4):
        radio = make_point_sources(cfg, "radio_sources", seed=seed)
        high = np.abs(radio.vectors[:, 2]) > np.sin(np.radians(5.0))
        n = int(((radio.fluxes(22.8) >= 1.1) & high).sum())
        assert abs(n - newps) < 3 * np.sqrt(newps) + 0.1 * newps, (seed, n)


def test_radio_sources_are_a_few_percent_polarised():
    """Bright (> 0.5 Jy at 30 GHz) radio sources in the 30 GHz I, Q, U maps: mean P / I ~3 %,
    random angles (EE ~ BB)."""
    cfg = config()
    radio = make_point_sources(cfg["components"]["radio_sources"], "radio_sources", seed=4)
    nside = 256
    iqu = radio.emission(CENTRE[30], nside, pol=True)
    bright = radio.fluxes(CENTRE[30]) > 0.5
    pix = hp.vec2pix(nside, *radio.vectors[bright].T)
    frac = np.hypot(iqu[1][pix], iqu[2][pix]) / iqu[0][pix]
    assert bright.sum() > 500
    assert frac.mean() == pytest.approx(RADIO_POL_FRACTION, rel=0.25)
    cl = hp.anafast(iqu, lmax=300, iter=0)
    assert cl[2][50:].mean() == pytest.approx(cl[1][50:].mean(), rel=0.1)


@pytest.mark.parametrize(
    ("band", "factor"),
    [
        (30, 1.4),
        (44, 1.4),
        (70, 1.4),
        (100, 1.4),
        (143, 1.4),
        (217, 1.4),
        (353, 2.0),
        (545, 3.0),
        (857, 2.2),
    ],
)
def test_one_over_f_excess_matches_ffp10_noise(band, factor):
    """The default detector table's noise model N_l = white x (1 + (l_knee / l)^alpha), as a ratio
    of the mean N_l in the bins 2-3, 4-7, 8-15, 16-31 to its mean over 1000 <= l <= 3000, against
    the same ratio of Planck's FFP10 noise simulations (``data/planck_ffp10_noise_lowl.csv``).
    Model over FFP10: 0.78-1.37 at 30-217 GHz (tested within a factor 1.4; at 100 GHz the FFP10
    spectrum dips below its l ~ 2000 level around l ~ 500, so the model's excess is 1.25-1.37
    times FFP10's), 0.79-1.82 at 353 GHz (factor 2). At 545 and 857 GHz the FFP10 excess is not
    one power law: the model has 2.9 and 2.0 times FFP10's excess at l = 2-3 and 0.52 and 0.77
    times it at l = 16-31 (factors 3 and 2.2)."""
    det = load_detectors(bands=[band])[band]
    total = 1.0 + one_over_f_shape(3000, det.ell_knee, det.alpha_knee)
    white = total[1000:3001].mean()
    rows = [r for r in read_table("planck_ffp10_noise_lowl.csv") if int(r["band"]) == band]
    assert len(rows) == 4
    for r in rows:
        model = total[int(r["ell_min"]) : int(r["ell_max"]) + 1].mean() / white
        ratio = model / float(r["ratio"])
        assert 1 / factor < ratio < factor, (band, r["ell_min"], ratio)
