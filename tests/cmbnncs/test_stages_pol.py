"""CMBNNCS on simulated I, Q, U: the real simulation stages (``scenario.map_fields=IQU``) at
nside 32, then every CMBNNCS stage with one network per Stokes field.

The checks recompute each field's prediction independently of the stages: the field's maps of
the four detectors read from the simulated FITS files, divided by the standard deviations of
those maps over the Train split (numpy), arranged into planes, passed through the field's
checkpoint and multiplied by the field's target factor (the I one, 5, times the ratio of the
field's and the intensity's CMB standard deviations over the Train split). A temperature-only
dataset keeps its one-field predictions and its products, and the temperature network of an
I, Q, U dataset is the one a temperature-only run trains.
"""

import shutil

import healpy as hp
import numpy as np
import pytest
import torch
import yaml
from astropy.io import fits

from cmbml.cmbnncs import UNet5, plane_to_sphere, sphere_to_plane
from cmbml.core import compose, get_handler, run_pipeline
from tests.sims.fiducial import SIMS_STAGES, tiny_sims_overrides

NSIDE = 32
DETS = [100, 143, 217, 353]
SIMS = SIMS_STAGES
CMBNNCS = [
    "cmbnncs_scale",
    "cmbnncs_preprocess",
    "cmbnncs_train",
    "cmbnncs_predict",
    "cmbnncs_postprocess",
]
EPOCHS = 2
FIELDS = {"I": 0, "Q": 1, "U": 2}


def compose_sims(root, map_fields, *extra):
    return compose(
        "config_cmbnncs",
        [
            *tiny_sims_overrides(root, NSIDE),
            "model.sim.cmb.camb_accuracy=temperature",
            "model.sim.noise.correlated.enabled=false",
            f"scenario.map_fields={map_fields}",
            f"pipeline.stages=[{','.join(SIMS + CMBNNCS)}]",
            f"model.cmbnncs.num_epochs={EPOCHS}",
            "model.cmbnncs.device=cpu",
            *extra,
        ],
    )


def simulate_and_clean(root, map_fields):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg = compose_sims(root, map_fields)
    reports = run_pipeline(cfg)
    torch.set_num_threads(threads)
    return cfg, reports


@pytest.fixture(scope="module")
def iqu(tmp_path_factory):
    root = tmp_path_factory.mktemp("iqu")
    cfg, reports = simulate_and_clean(root, "IQU")
    return root, cfg, reports


@pytest.fixture(scope="module")
def intensity(tmp_path_factory):
    root = tmp_path_factory.mktemp("i")
    cfg, reports = simulate_and_clean(root, "I")
    return root, cfg, reports


def sim_map(root, cfg, split, sim, name):
    path = root / cfg.dataset_name / "Simulation" / split / f"sim{sim:04d}" / name
    return np.atleast_2d(hp.read_map(path, field=None, dtype=np.float64))


def train_std(root, cfg, name, field):
    return float(
        np.std(np.concatenate([sim_map(root, cfg, "Train", s, name)[field] for s in (0, 1)]))
    )


def test_iqu_predictions_are_three_field_maps_in_uk_cmb(iqu):
    root, cfg, reports = iqu
    assert {name: reports[name].ran for name in CMBNNCS} == {
        "cmbnncs_scale": 1,
        "cmbnncs_preprocess": 3,
        "cmbnncs_train": 1,
        "cmbnncs_predict": 1,
        "cmbnncs_postprocess": 1,
    }
    path = (
        root
        / cfg.dataset_name
        / "CMBNNCS"
        / "Test"
        / "sim0000"
        / f"cmb_map_pred_e{EPOCHS:04d}.fits"
    )
    with fits.open(path) as hdul:
        header = hdul[1].header
        assert header["TFIELDS"] == 3 and header["NSIDE"] == NSIDE
        assert header["ORDERING"] == "RING"
        assert [header[f"TTYPE{k}"] for k in (1, 2, 3)] == ["I_STOKES", "Q_STOKES", "U_STOKES"]
        assert [header[f"TUNIT{k}"].strip() for k in (1, 2, 3)] == ["uK_CMB"] * 3
    assert get_handler("healpix_map").read(path).shape == (3, 12 * NSIDE**2)


def test_each_field_is_its_network_applied_to_that_fields_maps(iqu):
    root, cfg, _ = iqu
    work = root / cfg.dataset_name / "CMBNNCS"
    pred = get_handler("healpix_map").read(
        work / "Test" / "sim0000" / f"cmb_map_pred_e{EPOCHS:04d}.fits"
    )
    for field, k in FIELDS.items():
        suffix = "" if field == "I" else f"_{field}"
        scale = yaml.safe_load((work / f"scale{suffix}.yaml").read_text())
        # the scale: std of that field of each detector's Train maps, and of the Train CMB
        assert list(scale["features"]) == [str(d) for d in DETS]
        for det in DETS:
            expected = train_std(root, cfg, f"obs_{det}_map.fits", k)
            assert scale["features"][str(det)] == pytest.approx(expected, rel=1e-6), (field, det)
        # I: CMB-ML's 5; Q, U: the factor that gives their Train rms that of the I target
        target = 5.0
        if field != "I":
            rms = [train_std(root, cfg, "cmb_map_fid.fits", i) for i in (0, k)]
            target = 5.0 * rms[1] / rms[0]
        assert scale["target"] == pytest.approx(target, rel=1e-6), field
        # the field's network on the field's maps
        obs = np.stack(
            [
                sim_map(root, cfg, "Test", 0, f"obs_{det}_map.fits")[k]
                / scale["features"][str(det)]
                for det in DETS
            ]
        )
        checkpoint = torch.load(
            work / f"Model{suffix}" / f"model_e{EPOCHS:04d}.pt", weights_only=True
        )
        network = UNet5(len(DETS))
        network.load_state_dict(checkpoint["model"])
        with torch.no_grad():
            out = network.eval()(torch.from_numpy(sphere_to_plane(obs).astype(np.float32))[None])
        expected = plane_to_sphere(out[0, 0].numpy().astype(np.float64)) * scale["target"]
        np.testing.assert_allclose(
            pred[k], expected, rtol=1e-4, atol=1e-4 * np.std(expected), err_msg=field
        )


def test_products_of_each_field_are_apart(iqu):
    root, cfg, _ = iqu
    work = root / cfg.dataset_name / "CMBNNCS"
    for suffix in ("", "_Q", "_U"):
        assert sorted(p.name for p in (work / f"Model{suffix}").iterdir()) == [
            "model_e0000.pt",
            f"model_e{EPOCHS:04d}.pt",
            "train_log.csv",
        ]
    assert sorted(p.name for p in work.glob("scale*.yaml")) == [
        "scale.yaml",
        "scale_Q.yaml",
        "scale_U.yaml",
    ]
    planes = work / "Preprocessed" / "Train" / "sim0001"
    assert sorted(p.name for p in planes.iterdir()) == [
        "cmb_plane.npy",
        "cmb_plane_Q.npy",
        "cmb_plane_U.npy",
        "obs_planes.npy",
        "obs_planes_Q.npy",
        "obs_planes_U.npy",
    ]
    cmb_q = plane_to_sphere(np.load(planes / "cmb_plane_Q.npy")[0].astype(np.float64))
    target = yaml.safe_load((work / "scale_Q.yaml").read_text())["target"]
    np.testing.assert_allclose(
        cmb_q * target, sim_map(root, cfg, "Train", 1, "cmb_map_fid.fits")[1], rtol=1e-5, atol=1e-6
    )
    keys = {
        torch.load(work / f"Model{s}" / "model_e0000.pt", weights_only=True)["resume_key"]
        for s in ("", "_Q", "_U")
    }
    assert len(keys) == 3  # each field resumes from its own checkpoints only


def test_temperature_only_on_an_iqu_dataset_is_the_i_field(iqu, tmp_path):
    root, cfg, _ = iqu
    shutil.copytree(
        root / cfg.dataset_name / "Simulation", tmp_path / cfg.dataset_name / "Simulation"
    )
    only_i = compose_sims(
        tmp_path, "IQU", "model.cmbnncs.fields=[I]", "pipeline.only=[" + ",".join(CMBNNCS) + "]"
    )
    run_pipeline(only_i)
    name = f"Test/sim0000/cmb_map_pred_e{EPOCHS:04d}.fits"
    handler = get_handler("healpix_map")
    pred_i = handler.read(tmp_path / cfg.dataset_name / "CMBNNCS" / name)
    pred_iqu = handler.read(root / cfg.dataset_name / "CMBNNCS" / name)
    assert pred_i.shape == (12 * NSIDE**2,)
    np.testing.assert_array_equal(pred_i, pred_iqu[0])
    assert not list((tmp_path / cfg.dataset_name / "CMBNNCS").rglob("*_Q*"))


def test_intensity_only_dataset_keeps_one_field_predictions_and_its_products(intensity):
    root, cfg, reports = intensity
    work = root / cfg.dataset_name / "CMBNNCS"
    path = work / "Test" / "sim0000" / f"cmb_map_pred_e{EPOCHS:04d}.fits"
    with fits.open(path) as hdul:
        assert hdul[1].header["TFIELDS"] == 1 and hdul[1].header["TTYPE1"] == "I_STOKES"
        assert hdul[1].header["TUNIT1"].strip() == "uK_CMB"
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()) == [
        "Model/model_e0000.pt",
        f"Model/model_e{EPOCHS:04d}.pt",
        "Model/train_log.csv",
        f"Predicted/Test/sim0000/cmb_plane_e{EPOCHS:04d}.npy",
        *(
            f"Preprocessed/{split}/sim{s:04d}/{name}"
            for split, s in (("Test", 0), ("Train", 0), ("Train", 1))
            for name in ("cmb_plane.npy", "obs_planes.npy")
        ),
        f"Test/sim0000/cmb_map_pred_e{EPOCHS:04d}.fits",
        "scale.yaml",
    ]
    # the polarisation settings do not touch a temperature-only dataset: nothing recomputes
    rerun = compose_sims(
        root,
        "I",
        "model.cmbnncs.fields=[I]",
        "model.cmbnncs.scale_features_pol=3.0",
        "model.cmbnncs.scale_target_pol=2.0",
        "pipeline.only=[" + ",".join(CMBNNCS) + "]",
    )
    assert {name: report.ran for name, report in run_pipeline(rerun).items()} == dict.fromkeys(
        CMBNNCS, 0
    )


def test_q_u_networks_take_the_detectors_that_measure_q_u(iqu, tmp_path):
    root, cfg, _ = iqu
    shutil.copytree(
        root / cfg.dataset_name / "Simulation", tmp_path / cfg.dataset_name / "Simulation"
    )
    mixed = compose_sims(
        tmp_path,
        "IQU",
        "model.cmbnncs.detectors=[143,545]",
        "pipeline.only=[cmbnncs_scale,cmbnncs_preprocess]",
    )
    run_pipeline(mixed)
    work = tmp_path / cfg.dataset_name / "CMBNNCS"
    assert list(yaml.safe_load((work / "scale.yaml").read_text())["features"]) == ["143", "545"]
    scale_q = yaml.safe_load((work / "scale_Q.yaml").read_text())
    assert list(scale_q["features"]) == ["143"]  # 545 GHz has no Q, U
    planes = work / "Preprocessed" / "Test" / "sim0000"
    assert np.load(planes / "obs_planes.npy").shape == (2, 4 * NSIDE, 3 * NSIDE)
    obs_q = np.load(planes / "obs_planes_Q.npy")
    assert obs_q.shape == (1, 4 * NSIDE, 3 * NSIDE)
    q_143 = sim_map(tmp_path, cfg, "Test", 0, "obs_143_map.fits")[1]
    np.testing.assert_allclose(
        plane_to_sphere(obs_q[0].astype(np.float64)) * scale_q["features"]["143"],
        q_143,
        rtol=1e-5,
        atol=1e-5,
    )
