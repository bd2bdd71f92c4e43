"""Stage pyilc_predict on a simulated I, Q, U dataset (real configs, scenario.map_fields=IQU).

The dataset is simulated by the real simulation stages at nside 16 with the shipped detector
table whose noise levels are divided by 10 (a file in the same format): the white noise that
then reaches the ILC output is ~0.03 uK per pixel in Q, U, against a CMB Q, U rms of ~0.2 uK,
so the noise alone would allow a correlation with the truth of ~0.99, while the polarised
foregrounds dominate every single channel (at 143 GHz the correlation is below 0.3). The ILC
must reach 0.75 in Q and in U, i.e. leave foreground residuals below ~90% of the CMB rms
(correlation 1 / sqrt(1 + r^2) for a residual of relative rms r): at nside 16 a needlet scale
holds few modes, so the ILC bias on the default sky (dust at Planck's level, the CIB, an ordered
Galactic field) is large; ~0.82 is measured.
"""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from cmbml import sphere
from cmbml.core import BadInputError, Catalog, ConfigError, compose, run_pipeline
from cmbml.core.handlers import get_handler
from cmbml.ilc import dust_sed, harmonic_ilc, needlet_ilc, synchrotron_sed
from cmbml.ilc.stages.pyilc_predict import ilc_call
from tests.sims.fiducial import (
    SHIPPED_DETECTORS,
    SIMS_STAGES,
    quiet_detector_table,
    tiny_sims_overrides,
)

NSIDE = 16
SIMS = SIMS_STAGES
DETECTOR_TABLE = SHIPPED_DETECTORS


def compose_iqu(root, table, method, stages, *overrides):
    return compose(
        "config_all",
        [
            *tiny_sims_overrides(root, NSIDE),
            "splits.Train.n_sims=0",
            "model.sim.cmb.camb_accuracy=temperature",
            f"model.sim.instrument.table={table}",
            "model.sim.noise.correlated.enabled=false",  # white noise: see the module docstring
            "scenario.map_fields=IQU",
            f"model/pyilc={method}",
            f"pipeline.stages=[{','.join(stages)}]",
            *overrides,
        ],
    )


@pytest.fixture(scope="module")
def iqu_dataset(tmp_path_factory):
    """A simulated IQU Test simulation at nside 16 (quiet detectors), its root and table."""
    root = tmp_path_factory.mktemp("iqu")
    table = quiet_detector_table(root)
    run_pipeline(compose_iqu(root, table, "cnilc", SIMS))
    return root, table


def at_output_beam(iqu, fwhm_in, fwhm_out, lmax):
    """I, Q, U maps ``(3, npix)`` from beam ``fwhm_in`` to ``fwhm_out`` (arcmin)."""
    fl = sphere.gaussian_beam(fwhm_out, lmax, pol=True) / sphere.gaussian_beam(
        fwhm_in, lmax, pol=True
    )
    alm = sphere.almxfl(sphere.map2alm(iqu, lmax, pol=True, niter=10), fl[[0, 1, 1]])
    return sphere.alm2map(alm, NSIDE, lmax, pol=True)


def corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize(
    ("method", "deproject_pol"), [("cnilc", []), ("cnilc", ["dust", "synchrotron"]), ("hilc", [])]
)
def test_pyilc_predict_writes_iqu_with_the_cmb_recovered_in_q_and_u(
    iqu_dataset, method, deproject_pol
):
    root, table = iqu_dataset
    cfg = compose_iqu(
        root,
        table,
        method,
        ["pyilc_predict"],
        f"model.pyilc.deproject_pol=[{','.join(deproject_pol)}]",
    )
    reports = run_pipeline(cfg)
    assert reports["pyilc_predict"].ran == 1
    catalog = Catalog.from_config(cfg)
    path = catalog.path("pyilc_cmb_map_pred", split="Test", sim=0, working=cfg.model.pyilc.working)
    with fits.open(path) as hdul:
        header = hdul[1].header
        assert header["TFIELDS"] == 3
        assert [header[f"TTYPE{k}"] for k in (1, 2, 3)] == ["I_STOKES", "Q_STOKES", "U_STOKES"]
        assert header["TUNIT2"].strip() == "uK_CMB"
    pred = get_handler("healpix_map").read(path)

    # plumbing: the same ILC called directly on the stored maps, Q, U of 44-353 GHz only
    detectors = get_handler("csv").read(catalog.path("detector_table")).set_index("band")
    bands = list(cfg.model.pyilc.detectors)
    polarised = (detectors.loc[bands, "fields"] == "IQU").to_numpy()
    assert polarised.tolist() == [True] * 6 + [False] * 2
    maps = np.zeros((len(bands), 3, 12 * NSIDE**2))
    for k, band in enumerate(bands):
        obs = get_handler("healpix_map").read(
            catalog.path("obs_map", split="Test", sim=0, freq=band)
        )
        maps[k, : 3 if polarised[k] else 1] = obs
    beams = detectors.loc[bands, "fwhm_arcmin"].to_numpy(float)
    preset = dict(cfg.model.pyilc.presets[str(NSIDE)])
    freqs = detectors.loc[bands, "center_ghz"].to_numpy(float)
    seds = {"dust": dust_sed(freqs), "synchrotron": synchrotron_sed(freqs)}
    ilc = needlet_ilc if method == "cnilc" else harmonic_ilc
    direct = ilc(
        maps,
        beams,
        polarised=polarised,
        deproject_pol=[seds[name] for name in deproject_pol],
        output_fwhm_arcmin=20.6,
        **preset,
    )
    for f in range(3):
        assert np.abs(pred[f] - direct[f]).max() < 1e-5 * np.abs(direct[f]).max()

    # physics: the CMB truth (unbeamed; bring it to the output beam and the pixel window)
    truth = get_handler("healpix_map").read(catalog.path("cmb_map", split="Test", sim=0))
    lmax = 3 * NSIDE - 1
    window = sphere.pixel_window(NSIDE, lmax)
    truth_alm = sphere.almxfl(sphere.map2alm(truth, lmax, pol=True, niter=10), window)
    truth = at_output_beam(sphere.alm2map(truth_alm, NSIDE, lmax, pol=True), 0.0, 20.6, lmax)
    single = at_output_beam(maps[bands.index(143)], 32.4, 20.6, lmax)
    assert corr(pred[0], truth[0]) > 0.95
    for f in (1, 2):
        assert abs(corr(single[f], truth[f])) < 0.3
        assert corr(pred[f], truth[f]) > 0.75


def test_iqu_scenario_needs_the_polarisation_of_each_detector(tmp_path):
    table = pd.read_csv(DETECTOR_TABLE).drop(columns="has_pol")
    table.to_csv(tmp_path / "detectors.csv", index=False)
    cfg = compose_iqu(tmp_path, tmp_path / "detectors.csv", "cnilc", ["pyilc_predict"])
    catalog = Catalog.from_config(cfg)
    rng = np.random.default_rng(0)
    for band in table["band"]:
        path = catalog.path("obs_map", split="Test", sim=0, freq=band)
        get_handler("healpix_map").write(path, rng.standard_normal(12 * NSIDE**2))
    with pytest.raises(BadInputError, match="detectors.csv: no 'has_pol' column"):
        run_pipeline(cfg)
    # with the column, a detector said to have Q, U whose file has I only is named
    pd.read_csv(DETECTOR_TABLE).to_csv(tmp_path / "detectors.csv", index=False)
    with pytest.raises(BadInputError, match=r"obs_44_map.fits: expected I, Q, U maps"):
        run_pipeline(cfg)


def test_unknown_polarised_deprojection_is_a_config_error():
    model = {
        "method": "cnilc",
        "output_fwhm_arcmin": 20.6,
        "presets": {"16": {"ellpeaks": [20, 35, 48]}},
        "deproject_pol": ["cib"],
    }
    with pytest.raises(ConfigError, match="deproject_pol"):
        ilc_call(model, 16, [100.0, 143.0])
    model["deproject_pol"] = []
    _, kwargs = ilc_call(model, 16, [100.0, 143.0])
    assert kwargs["deproject_pol"].shape == (0, 2)
