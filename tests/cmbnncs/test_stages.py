"""The CMBNNCS stages through the real pipeline runner on a tiny nside-32 dataset."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from astropy.io import fits

from cmbml.cmbnncs import plane_to_sphere
from cmbml.core import ConfigError, MissingInputError, get_handler, run_pipeline
from tests.cmbnncs.tiny import DETS, NSIDE, make_cfg, tiny_runs, write_sims


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
    assert ran == tiny_runs("cmbnncs")
    work = root / cfg.dataset_name / "CMBNNCS"
    assert yaml_load(work / "scale.yaml")["target"] == 5.0
    assert sorted(p.name for p in (work / "Model").glob("*.pt")) == [
        "model_e0000.pt",
        "model_e0001.pt",
        "model_e0002.pt",
    ]
    log = pd.read_csv(work / "Model" / "train_log.csv")
    assert list(log.columns) == ["epoch", "train_loss", "valid_loss", "lr"]
    assert list(log.epoch) == [1, 2]
    assert np.isfinite(log[["train_loss", "valid_loss"]].to_numpy()).all()
    assert log.lr.iloc[-1] == pytest.approx(cfg.model.cmbnncs.lr_min)


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
    factor = yaml_load(root / cfg.dataset_name / "CMBNNCS" / "scale.yaml")["features"]["217"]
    np.testing.assert_allclose(plane_to_sphere(obs_planes[2]) * factor, obs_217, rtol=1e-6)


def test_train_std_scale_is_the_std_of_each_detector_over_the_train_split(trained):
    root, cfg, _, _ = trained
    assert cfg.model.cmbnncs.scale_features == "train_std"
    handler = get_handler("healpix_map")
    sims = root / cfg.dataset_name / "Simulation" / "Train"
    scale = yaml_load(root / cfg.dataset_name / "CMBNNCS" / "scale.yaml")
    assert scale["unit"] == "uK_CMB" and set(scale["features"]) == {str(d) for d in DETS}
    for det in DETS:
        maps = [handler.read(sims / f"sim{s:04d}" / f"obs_{det}_map.fits")[0] for s in range(2)]
        expected = np.std(np.concatenate(maps).astype(np.float64))
        assert scale["features"][str(det)] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.cmbnncs.scale_features=0", "scale_features must be a finite number > 0"),
        ("model.cmbnncs.scale_features=std", "expected a number, a mapping or 'train_std'"),
        ("model.cmbnncs.scale_features={100:2.0}", "no factor for detector"),
        ("model.cmbnncs.scale_target=-5", "scale_target must be a finite number > 0"),
    ],
)
def test_bad_scale_settings_name_the_key(tmp_path, override, message):
    cfg = make_cfg(tmp_path, "pipeline.only=[cmbnncs_scale]", override)
    write_sims(cfg)
    with pytest.raises(ConfigError, match=message):
        run_pipeline(cfg)


def test_scale_mapping_per_detector(tmp_path):
    factors = {100: 2.0, 143: 3.0, 217: 4.0, 353: 50.0}
    cfg = make_cfg(
        tmp_path,
        "pipeline.only=[cmbnncs_scale]",
        "model.cmbnncs.scale_features={" + ",".join(f"{k}:{v}" for k, v in factors.items()) + "}",
    )
    run_pipeline(cfg)
    scale = yaml_load(tmp_path / cfg.dataset_name / "CMBNNCS" / "scale.yaml")
    assert scale["features"] == {str(k): v for k, v in factors.items()}


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


def copy_products(root, cfg, other):
    """The simulations and CMBNNCS products of ``root`` under ``other`` (no manifests)."""
    for folder in ("Simulation", "CMBNNCS"):
        shutil.copytree(root / cfg.dataset_name / folder, other / cfg.dataset_name / folder)
    return other / cfg.dataset_name / "CMBNNCS" / "Model"


def same_model(path_a, path_b):
    a = torch.load(path_a, weights_only=True)
    b = torch.load(path_b, weights_only=True)
    assert a["epoch"] == b["epoch"]
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=1e-6, atol=1e-7, msg=name)


def test_rerun_after_an_interruption_resumes_from_the_last_checkpoint(trained, tmp_path):
    root, cfg, _, _ = trained
    model_a = root / cfg.dataset_name / "CMBNNCS" / "Model"
    model_b = copy_products(root, cfg, tmp_path)
    (model_b / "model_e0002.pt").unlink()  # as if killed during epoch 2
    before = {p.name: p.stat().st_mtime_ns for p in model_b.glob("*.pt")}
    reports = run_pipeline(make_cfg(tmp_path, "pipeline.only=[cmbnncs_train]"))
    assert reports["cmbnncs_train"].ran == 1
    # epochs 0 and 1 were not redone, and the result is the uninterrupted run's
    assert {p: (model_b / p).stat().st_mtime_ns for p in before} == before
    same_model(model_a / "model_e0002.pt", model_b / "model_e0002.pt")
    pd.testing.assert_frame_equal(
        pd.read_csv(model_b / "train_log.csv"), pd.read_csv(model_a / "train_log.csv")
    )


def test_checkpoints_from_other_training_inputs_are_not_resumed(trained, tmp_path):
    root, cfg, _, _ = trained
    model_b = copy_products(root, cfg, tmp_path)
    (model_b / "model_e0002.pt").unlink()
    old_e1 = torch.load(model_b / "model_e0001.pt", weights_only=True)
    plane = tmp_path / cfg.dataset_name / "CMBNNCS" / "Preprocessed" / "Train" / "sim0000"
    np.save(plane / "cmb_plane.npy", np.load(plane / "cmb_plane.npy") * 1.5)
    run_pipeline(make_cfg(tmp_path, "pipeline.only=[cmbnncs_train]"))
    new_e1 = torch.load(model_b / "model_e0001.pt", weights_only=True)
    assert new_e1["resume_key"] != old_e1["resume_key"]
    weight = "down.0.0.weight"
    assert not torch.allclose(new_e1["model"][weight], old_e1["model"][weight])


def test_a_changed_config_does_not_resume_and_force_restarts(trained, tmp_path):
    root, cfg, _, _ = trained
    model_b = copy_products(root, cfg, tmp_path)
    keys = {e: torch.load(model_b / f"model_e000{e}.pt")["resume_key"] for e in range(3)}
    assert len(set(keys.values())) == 1
    run_pipeline(make_cfg(tmp_path, "pipeline.only=[cmbnncs_train]", "model.cmbnncs.lr=2e-2"))
    assert torch.load(model_b / "model_e0001.pt")["resume_key"] != keys[1]
    # forced: recomputed from epoch 0 although every checkpoint matches
    run_pipeline(make_cfg(tmp_path, "pipeline.only=[cmbnncs_train]"))
    before = (model_b / "model_e0001.pt").stat().st_mtime_ns
    run_pipeline(make_cfg(tmp_path, "pipeline.only=[cmbnncs_train]", "pipeline.force=true"))
    assert (model_b / "model_e0001.pt").stat().st_mtime_ns != before
    assert torch.load(model_b / "model_e0001.pt")["resume_key"] == keys[1]


def test_predicting_an_epoch_that_is_never_checkpointed_is_a_config_error(trained):
    root, _, _, _ = trained
    cfg = make_cfg(root, "pipeline.only=[cmbnncs_predict]", "model.cmbnncs.use_epochs=[3]")
    with pytest.raises(ConfigError, match="use_epochs.*3.*checkpoint"):
        run_pipeline(cfg)


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


def test_paper_settings_are_cmb_ml_s_and_standalone():
    import yaml as pyyaml

    from cmbml.cmbnncs.stages._common import checkpoint_epochs
    from cmbml.core import compose
    from cmbml.core.config import CONFIG_DIR

    # CMB-ML's cfg/model/cmbnncs/cmbnncs_model.yaml and network/unet8.yaml
    defaults = pyyaml.safe_load((CONFIG_DIR / "model/cmbnncs/paper.yaml").read_text())["defaults"]
    assert defaults == [{"network": "unet8"}, "_self_"]  # nothing inherited from the demo
    cfg = compose("config_cmbnncs", ["model/cmbnncs=paper", "model.cmbnncs.device=cpu"])
    mc = cfg.model.cmbnncs
    assert mc.network._target_ == "cmbml.cmbnncs.UNet8"
    assert list(mc.detectors) == [100, 143, 217, 353]
    assert (mc.scale_features, mc.scale_target) == (1.0, 5.0)
    assert (mc.num_epochs, mc.batch_size, mc.repeat_n) == (120, 12, 3)
    assert (mc.lr, mc.lr_min, mc.lr_decay) == (1e-1, 1e-6, "batch")
    assert checkpoint_epochs(cfg) == sorted({0, 1, 2, 3, 6, 9, *range(5, 121, 5)})
