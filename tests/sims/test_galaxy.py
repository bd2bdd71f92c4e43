"""Galaxy morphology: no mirror symmetry, named structures where they are on the sky, and a
foreground mask that covers them like the Planck masks do."""

from pathlib import Path

import healpy as hp
import numpy as np
import pytest
from omegaconf import OmegaConf

from cmbml.sims.foregrounds import model_from_config
from cmbml.sims.galaxy import galactic_profile
from cmbml.sims.mask import foreground_mask

CONFIG = Path(__file__).resolve().parents[2] / "cfg/model/sim/foregrounds/synthetic.yaml"

# (l, b) in degrees of structures the Planck intensity masks cover (Planck 2015 IX / 2018 IV)
MASKED = {
    "Orion": (209.0, -19.5),
    "Ophiuchus": (355.0, 17.0),
    "Taurus": (172.0, -15.0),
    "LMC": (280.5, -32.9),
}


def config() -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONFIG))


def mirrored(values, nside, flip_b=True):
    """``values`` seen at (l, -b) (flip_b) or at (-l, b)."""
    lon, lat = hp.pix2ang(nside, np.arange(values.size), lonlat=True)
    if flip_b:
        return values[hp.ang2pix(nside, lon, -lat, lonlat=True)]
    return values[hp.ang2pix(nside, -lon, lat, lonlat=True)]


def dust_profile(nside):
    cfg = config()
    tcfg = cfg["components"]["dust"]["template"]
    return galactic_profile(nside, tcfg, cfg["galaxy"])


def test_profile_breaks_both_mirror_symmetries():
    nside = 64
    prof = dust_profile(nside)
    assert np.all(prof > 0)
    _, lat = hp.pix2ang(nside, np.arange(prof.size), lonlat=True)
    band = (np.abs(lat) > 3) & (np.abs(lat) < 60)
    for flip_b in (True, False):
        ratio = np.abs(np.log(prof / mirrored(prof, nside, flip_b)))[band]
        assert np.mean(ratio > np.log(2)) > 0.05, flip_b


def test_structures_are_where_they_are_on_the_sky():
    nside = 64
    prof = dust_profile(nside)
    cfg = config()
    plain = galactic_profile(
        nside, {**cfg["components"]["dust"]["template"], "structures": {}}, cfg["galaxy"]
    )
    for name, (lon, lat) in MASKED.items():
        pix = hp.ang2pix(nside, lon, lat, lonlat=True)
        assert prof[pix] > 2 * plain[pix], name


def test_foreground_mask_looks_like_a_planck_mask():
    nside = 64
    cfg = config()
    model = model_from_config(cfg, 2 * nside, seed=4)
    dust_353 = hp.ud_grade(model.emission(357.5, pol=False)[0], nside)
    mask = foreground_mask(dust_353, fsky=0.78, smoothing_fwhm_arcmin=180.0)
    for name, (lon, lat) in MASKED.items():
        assert mask[hp.ang2pix(nside, lon, lat, lonlat=True)] == 0, name
    lon, lat = hp.pix2ang(nside, np.arange(mask.size), lonlat=True)
    # the inner Galaxy is masked wider than the anticentre
    inner = (np.abs(((lon + 180) % 360) - 180) < 20) & (np.abs(lat) < 30)
    outer = (np.abs(lon - 180) < 20) & (np.abs(lat) < 30)
    assert (1 - mask[inner]).mean() > (1 - mask[outer]).mean() + 0.1
    # neither north-south nor east-west mirror symmetric
    for flip_b in (True, False):
        differ = np.mean(mask != mirrored(mask, nside, flip_b))
        assert differ > 0.03, flip_b
    assert (1 - mask[lat > 0]).mean() != pytest.approx((1 - mask[lat < 0]).mean(), abs=0.01)
