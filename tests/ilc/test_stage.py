"""Stage pyilc_predict: reads a simulation's observed maps through the catalog, writes the ILC."""

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from cmbml.core import Catalog, ConfigError, compose, run_pipeline
from cmbml.ilc import harmonic_ilc, needlet_ilc
from cmbml.ilc.stages.pyilc_predict import ilc_call

from .sky import make_sky

BANDS = [30, 44, 70, 100, 143, 217, 353, 545, 857]
CENTRES = [28.4, 44.1, 70.4, 100.89, 142.876, 221.156, 357.5, 555.2, 866.8]
BEAMS = [75.0, 65.0, 55.0, 43.0, 32.4, 22.3, 22.0, 21.5, 20.6]
PRED = "{root}/{dataset}/{working}/{split}/sim{sim:04d}/cmb_map_pred.fits"


def compose_pyilc(method, overrides):
    """config_all (it has the simulation settings that upstream stages hash) with
    model/pyilc=method (appended if it has no default for that group)."""
    try:
        return compose("config_all", [f"model/pyilc={method}", *overrides])
    except ConfigCompositionException:
        return compose("config_all", [f"model/pyilc={method}", *overrides])


@pytest.mark.parametrize("method", ["cnilc", "hilc"])
def test_pyilc_predict_writes_the_ilc_of_the_test_simulation(tmp_path, method):
    cfg = compose_pyilc(
        method,
        [
            f"local_system.datasets_root={tmp_path}",
            "scenario=demo",
            "splits.Test.n_sims=1",
            "pipeline.stages=[pyilc_predict]",
            "dataset.pixel_window=false",  # tests/ilc/sky.py beams the maps, no pixel window
            f"++catalog.pyilc_cmb_map_pred.path='{PRED}'",
            "++catalog.pyilc_cmb_map_pred.handler=healpix_map",
        ],
    )
    nside = int(cfg.scenario.nside)
    catalog = Catalog.from_config(cfg)
    table = pd.DataFrame({"band": BANDS, "center_ghz": CENTRES, "fwhm_arcmin": BEAMS})
    catalog.handler("detector_table").write(catalog.path("detector_table"), table)
    sky = make_sky(
        nside,
        2 * nside,
        CENTRES,
        BEAMS,
        seed=9,
        dust_amp=1e5,
        sync_amp=1e5,
        output_fwhm_arcmin=20.6,
    )
    for band, obs in zip(BANDS, sky["total"], strict=True):
        path = catalog.path("obs_map", split="Test", sim=0, freq=band)
        catalog.handler("obs_map").write(path, obs)

    run_pipeline(cfg)

    out_path = catalog.path(
        "pyilc_cmb_map_pred", split="Test", sim=0, working=cfg.model.pyilc.working
    )
    out = catalog.handler("pyilc_cmb_map_pred").read(out_path)
    # the same ILC called directly on the stored (float32) maps of bands 44-857
    stored = np.array(
        [
            catalog.handler("obs_map").read(catalog.path("obs_map", split="Test", sim=0, freq=b))
            for b in BANDS[1:]
        ]
    )
    preset = dict(cfg.model.pyilc.presets[str(nside)])
    if method == "cnilc":
        direct = needlet_ilc(stored, BEAMS[1:], output_fwhm_arcmin=20.6, **preset)
    else:
        direct = harmonic_ilc(stored, BEAMS[1:], output_fwhm_arcmin=20.6, **preset)
    assert np.abs(out - direct).max() < 1e-5 * np.abs(direct).max()
    assert np.std(out - sky["truth"]) < 0.1 * np.std(sky["truth"])


def test_missing_nside_preset_is_a_config_error():
    model = {"method": "cnilc", "output_fwhm_arcmin": 20.6, "presets": {"128": {}}}
    with pytest.raises(ConfigError, match="presets"):
        ilc_call(model, 32, [100.0, 143.0])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.pyilc.output_fwhm_arcmin=abc", "model.pyilc.output_fwhm_arcmin"),
        ("model.pyilc.ilc_bias_tol=small", "model.pyilc.ilc_bias_tol"),
        ("model.pyilc.niter=2.5", "model.pyilc.niter"),
    ],
)
def test_a_non_numeric_setting_is_a_config_error_naming_the_key(override, key):
    model = OmegaConf.to_container(compose("config_pyilc", [override]).model.pyilc, resolve=True)
    with pytest.raises(ConfigError, match=key):
        ilc_call(model, 32, [100.0, 143.0])
