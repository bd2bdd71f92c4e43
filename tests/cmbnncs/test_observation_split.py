"""CMBNNCS on an observation-only split (real maps, no truth): observed planes and predictions,
no CMB plane."""

import shutil

import numpy as np
import torch

from cmbml.core import get_handler, run_pipeline
from tests.cmbnncs.tiny import make_cfg, write_sims


def test_observation_split_is_predicted_without_a_truth(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg = make_cfg(tmp_path, "+splits.TestPlanck={n_sims: 1, kind: observation}")
    write_sims(cfg)
    sims = tmp_path / cfg.dataset_name / "Simulation"
    (sims / "TestPlanck" / "sim0000").mkdir(parents=True)
    for obs in (sims / "Test" / "sim0000").glob("obs_*_map.fits"):  # the same observed maps
        shutil.copy(obs, sims / "TestPlanck" / "sim0000" / obs.name)
    reports = run_pipeline(cfg)
    torch.set_num_threads(threads)
    assert reports["cmbnncs_postprocess"].ran == 3  # Test 2 + TestPlanck 1
    work = tmp_path / cfg.dataset_name / "CMBNNCS"
    planck = work / "Preprocessed" / "TestPlanck" / "sim0000"
    assert (planck / "obs_planes.npy").is_file() and not (planck / "cmb_plane.npy").exists()
    read = get_handler("healpix_map").read
    same_input = read(work / "Test" / "sim0000" / "cmb_map_pred_e0002.fits")
    real = read(work / "TestPlanck" / "sim0000" / "cmb_map_pred_e0002.fits")
    np.testing.assert_allclose(real, same_input, rtol=1e-5, atol=1e-3)
