"""The CMBNNCS stages through the real pipeline runner on a tiny nside-32 dataset."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from astropy.io import fits

from cmbml.cmbnncs import plane_to_sphere
from cmbml.core import ConfigError, MissingInputError, compose, get_handler, run_pipeline

NSIDE = 32  # the smallest nside UNet5 takes
DETS = [100, 143, 217, 353]
STAGES = "[cmbnncs_scale,cmbnncs_preprocess,cmbnncs_train,cmbnncs_predict,cmbnncs_postprocess]"
SPLITS = {"Train": 2, "Valid": 1, "Test": 2}


def make_cfg(root, *overrides):
    return compose(
        "config_sims",
        [
            # simulation outputs, declared here so the test does not depend on the sims package
            "++catalog.obs_map.path='{root}/{dataset}/Simulation/{split}/sim{sim:04d}/"
            "obs_{freq}_map.fits'",
            "++catalog.obs_map.handler=healpix_map",
            "++catalog.cmb_map.path='{root}/{dataset}/Simulation/{split}/sim{sim:04d}/"
            "cmb_map_fid.fits'",
            "++catalog.cmb_map.handler=healpix_map",
            f"scenario.nside={NSIDE}",
            *(f"splits.{name}.n_sims={n}" for name, n in SPLITS.items()),
            f"pipeline.stages={STAGES}",
            "model.cmbnncs.num_epochs=2",
            "model.cmbnncs.batch_size=2",
            "model.cmbnncs.device=cpu",
            f"local_system.datasets_root={root}",
            *overrides,
        ],
    )


def write_sims(cfg):
    """CMB + frequency-scaled 'foreground' + noise, IQU for the obs maps like the simulations."""
    handler = get_handler("healpix_map")
    rng = np.random.default_rng(0)
    npix = 12 * NSIDE**2
    dust = np.abs(rng.standard_normal(npix)) * 20
    truth = {}
    for split, n in SPLITS.items():
        for sim in range(n):
            cmb = rng.standard_normal(npix) * 70
            truth[split, sim] = cmb
            base = cfg.local_system.datasets_root + f"/{cfg.dataset_name}/Simulation/{split}"
            handler.write(f"{base}/sim{sim:04d}/cmb_map_fid.fits", cmb)
            for det in DETS:
                obs = cmb + dust * (det / 100) ** 2 + rng.standard_normal(npix) * 5
                iqu = np.stack([obs, 0.1 * obs, -0.1 * obs])
                handler.write(f"{base}/sim{sim:04d}/obs_{det}_map.fits", iqu)
    return truth


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cmbnncs")
    cfg = make_cfg(root)
    truth = write_sims(cfg)
    reports = run_pipeline(cfg)
    torch.set_num_threads(threads)
    return root, cfg, truth, reports


def test_pipeline_writes_every_product(trained):
    root, cfg, truth, reports = trained
    ran = {name: report.ran for name, report in reports.items()}
    assert ran == {
        "cmbnncs_scale": 1,
        "cmbnncs_preprocess": sum(SPLITS.values()),
        "cmbnncs_train": 1,
        "cmbnncs_predict": 1,
        "cmbnncs_postprocess": SPLITS["Test"],
    }
    work = root / cfg.dataset_name / "CMBNNCS"
    assert yaml_load(work / "scale.yaml") == {
        "features": {str(d): 1.0 for d in DETS},
        "target": 5.0,
        "unit": "uK_CMB",
    }
    assert sorted(p.name for p in (work / "Model").glob("*.pt")) == [
        "model_e0000.pt",
        "model_e0001.pt",
        "model_e0002.pt",
    ]
    log = pd.read_csv(work / "Model" / "train_log.csv")
    assert list(log.columns) == ["epoch", "train_loss", "valid_loss", "lr"]
    assert list(log.epoch) == [1, 2]
    assert np.isfinite(log[["train_loss", "valid_loss"]].to_numpy()).all()
    assert log.lr.iloc[-1] == pytest.approx(1e-6)


def test_preprocessed_planes_are_scaled_maps(trained):
    root, cfg, truth, _ = trained
    pre = root / cfg.dataset_name / "CMBNNCS" / "Preprocessed" / "Train" / "sim0001"
    cmb_plane = np.load(pre / "cmb_plane.npy")
    obs_planes = np.load(pre / "obs_planes.npy")
    assert cmb_plane.shape == (1, 4 * NSIDE, 3 * NSIDE) and cmb_plane.dtype == np.float32
    assert obs_planes.shape == (4, 4 * NSIDE, 3 * NSIDE) and obs_planes.dtype == np.float32
    np.testing.assert_allclose(plane_to_sphere(cmb_plane[0]) * 5, truth["Train", 1], rtol=1e-5)
    obs_217 = get_handler("healpix_map").read(
        root / cfg.dataset_name / "Simulation" / "Train" / "sim0001" / "obs_217_map.fits"
    )[0]
    np.testing.assert_allclose(plane_to_sphere(obs_planes[2]), obs_217, rtol=1e-6)


def test_one_prediction_per_test_sim_with_truth_nside_and_unit(trained):
    root, cfg, _, _ = trained
    work = root / cfg.dataset_name / "CMBNNCS"
    files = sorted((work / "Test").rglob("cmb_map_pred_e*.fits"))
    assert [f.relative_to(work / "Test").as_posix() for f in files] == [
        "sim0000/cmb_map_pred_e0002.fits",
        "sim0001/cmb_map_pred_e0002.fits",
    ]
    for sim, path in enumerate(files):
        with fits.open(path) as hdul:
            assert hdul[1].header["NSIDE"] == NSIDE
            assert hdul[1].header["ORDERING"] == "RING"
            assert hdul[1].header["TUNIT1"].strip() == "uK_CMB"
        pred = get_handler("healpix_map").read(path)
        plane = np.load(work / "Predicted" / "Test" / f"sim{sim:04d}" / "cmb_plane_e0002.npy")
        np.testing.assert_allclose(pred, plane_to_sphere(plane[0]) * 5, rtol=1e-6)


def test_restart_epoch_continues_exactly(trained, tmp_path):
    root, cfg, _, _ = trained
    other = tmp_path / "restart"
    shutil.copytree(root / cfg.dataset_name / "Simulation", other / cfg.dataset_name / "Simulation")
    model_a = root / cfg.dataset_name / "CMBNNCS" / "Model"
    model_b = other / cfg.dataset_name / "CMBNNCS" / "Model"
    run_pipeline(make_cfg(other, "pipeline.only=[cmbnncs_scale,cmbnncs_preprocess]"))
    model_b.mkdir(parents=True)
    shutil.copy(model_a / "model_e0001.pt", model_b / "model_e0001.pt")
    run_pipeline(make_cfg(other, "pipeline.only=[cmbnncs_train]", "model.cmbnncs.restart_epoch=1"))
    a = torch.load(model_a / "model_e0002.pt", weights_only=True)
    b = torch.load(model_b / "model_e0002.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=1e-6, atol=1e-7, msg=name)
    pd.testing.assert_frame_equal(
        pd.read_csv(model_b / "train_log.csv"), pd.read_csv(model_a / "train_log.csv")
    )


def test_missing_planes_name_the_file_and_the_producer(tmp_path):
    with pytest.raises(MissingInputError, match="obs_planes.npy.*cmbnncs_preprocess"):
        run_pipeline(make_cfg(tmp_path, "pipeline.only=[cmbnncs_train]"))


def test_network_too_deep_for_nside_is_a_config_error(tmp_path):
    cfg = make_cfg(tmp_path, "scenario.nside=16", "model/cmbnncs/network=unet8")
    from cmbml.cmbnncs.stages._common import build_network

    with pytest.raises(ConfigError, match="scenario.nside=16"):
        build_network(cfg)


def yaml_load(path):
    import yaml

    return yaml.safe_load(path.read_text())
