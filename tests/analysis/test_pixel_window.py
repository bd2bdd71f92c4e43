"""The pixel window a dataset's maps carry is recorded with the dataset and followed by the
analysis (``dataset.yaml``, ``dataset.pixel_window``; :mod:`cmbml.core.dataset`)."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pandas as pd
import pytest
import yaml

from cmbml import sphere
from cmbml.core import MissingInputError, compose, run_pipeline
from cmbml.core.errors import BadInputError, ConfigError

from .cmbml_format import PLANCK_NAME, overrides, write_dataset, write_tmask

NSIDE = 32
N_TEST = 2
DATASET = f"CMB_ML_{NSIDE}_1450"
ANALYSE = [
    "pyilc_predict",
    "analysis_mask",
    "pyilc_analysis_postprocess",
    "pyilc_analysis_pixel_metrics",
]


def _overrides(root, planck, *extra) -> list[str]:
    return overrides(root, planck, NSIDE, N_TEST, *extra)


@pytest.fixture(scope="module")
def cmbml_data(tmp_path_factory):
    """CMB-ML-format data: CMB at each band's beam, no pixel window, 0.3 x Planck noise."""
    root = tmp_path_factory.mktemp("cmbml_format")
    write_dataset(root / DATASET, NSIDE, N_TEST)
    planck = root / "planck" / PLANCK_NAME
    write_tmask(planck, NSIDE)
    return root, planck


def _floor(truth: np.ndarray, prediction: np.ndarray, good: np.ndarray) -> float:
    """NRMSE of the prediction against the truth at the ILC's 20.6 arcmin Gaussian beam and no
    pixel window (what CMB-ML's maps carry), both then brought to the matched protocol's common
    resolution (the pixel window applied to both) and kept to l <= 2 nside, on the kept pixels
    after healpy's monopole and dipole removal: the ILC's own error (noise and ILC bias)."""
    lmax = 2 * NSIDE
    window = sphere.pixel_window(NSIDE, lmax)
    beam = hp.gauss_beam(np.radians(20.6 / 60), lmax=lmax) * window
    t = hp.alm2map(hp.almxfl(hp.map2alm(truth, lmax=lmax, iter=3), beam), NSIDE)
    p = hp.alm2map(hp.almxfl(hp.map2alm(prediction, lmax=lmax, iter=3), window), NSIDE)
    t, p = (hp.remove_dipole(np.where(good, m, hp.UNSEEN)) for m in (t, p))
    return float(np.linalg.norm(t[good] - p[good]) / np.linalg.norm(t[good]))


def test_matched_nrmse_of_cnilc_is_its_floor_on_cmbml_data(cmbml_data):
    """CMB-ML's maps carry no pixel window, so neither does the ILC's output: the matched
    protocol must not treat it as windowed (it did: NRMSE ~2x the ILC's own error)."""
    root, planck = cmbml_data
    cfg = compose("config_pyilc", _overrides(root, planck, f"pipeline.only=[{','.join(ANALYSE)}]"))
    run_pipeline(cfg)
    data = root / DATASET
    good = hp.read_map(data / "Analysis_Mask/matched/mask.fits") > 0
    for sim in range(N_TEST):
        folder = data / f"Simulation/Test/sim{sim:04d}"
        truth = hp.read_map(folder / "cmb_map_fid.fits")
        pred = hp.read_map(data / f"PyILC_CNILC/Test/sim{sim:04d}/cmb_map_pred.fits")
        floor = _floor(truth, pred, good)
        analysis = data / f"PyILC_CNILC/Analysis/matched/Test/sim{sim:04d}"
        metrics = pd.read_csv(analysis / "pixel_metrics.csv")
        assert metrics["nrmse"].item() == pytest.approx(floor, rel=0.05)
        assert 0.005 < floor < 0.2


def test_record_is_cmb_mls_and_an_override_changes_the_analysis(cmbml_data, tmp_path):
    root, planck = cmbml_data
    record = yaml.safe_load((root / DATASET / "dataset.yaml").read_text())
    assert record["pixel_window"] is False and record["units"] == "uK_CMB"
    assert record["beams_fwhm_arcmin"]["857"] == 20.6
    only = "pipeline.only=[analysis_mask,pyilc_analysis_postprocess,pyilc_analysis_pixel_metrics]"
    run_pipeline(compose("config_pyilc", _overrides(root, planck, only)))
    table = root / DATASET / "PyILC_CNILC/Analysis/matched/Test/sim0000/pixel_metrics.csv"
    right = pd.read_csv(table)["nrmse"].item()
    # an override at the analysis alone contradicts the window the prediction records
    windowed = _overrides(root, planck, only, "dataset.pixel_window=true")
    with pytest.raises(BadInputError, match=r"without pixel window.*expects.*with pixel window"):
        run_pipeline(compose("config_pyilc", windowed))
    # a wrong override (maps said to carry the window) for the ILC and its analysis is
    # followed: the prediction is remade, and scores worse
    both = only.replace("[", "[pyilc_predict,")
    windowed = _overrides(root, planck, both, "dataset.pixel_window=true")
    run_pipeline(compose("config_pyilc", windowed))
    assert pd.read_csv(table)["nrmse"].item() > 1.3 * right


def test_no_record_and_no_override_names_the_file(cmbml_data, tmp_path):
    root, planck = cmbml_data
    other = tmp_path / "other"
    (other / DATASET).mkdir(parents=True)
    for path in (root / DATASET).rglob("*.fits"):
        if "Simulation/" in path.as_posix():
            target = other / DATASET / path.relative_to(root / DATASET)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    cfg = compose("config_pyilc", _overrides(other, planck, f"pipeline.only=[{','.join(ANALYSE)}]"))
    with pytest.raises(MissingInputError, match=r"dataset\.yaml.*dataset\.pixel_window"):
        run_pipeline(cfg)


def test_cmbml_sims_record_their_window_and_refuse_a_false_override(tmp_path):
    opts = ["scenario.nside=16", f"local_system.datasets_root={tmp_path}"]
    cfg = compose("config_sims", [*opts, "pipeline.only=[make_instrument]"])
    run_pipeline(cfg)
    record = yaml.safe_load(next(tmp_path.rglob("dataset.yaml")).read_text())
    assert record["pixel_window"] is True and record["beams_fwhm_arcmin"]["30"] == 75.0
    cfg = compose("config_sims", [*opts, "pipeline.only=[make_instrument]", "pipeline.force=true",
                                  "dataset.pixel_window=false"])  # fmt: skip
    with pytest.raises(ConfigError, match="dataset.pixel_window=false"):
        run_pipeline(cfg)
