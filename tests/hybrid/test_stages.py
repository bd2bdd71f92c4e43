"""The Hybrid stages on the tiny nside-32 dataset, with a stand-in ILC map (truth + noise)."""

import numpy as np
import pytest

from cmbml.core import ConfigError, compose, get_handler, run_pipeline
from cmbml.nn.nest import nest_to_ring
from tests.cmbnncs.tiny import DETS, SPLITS, network_stages, overrides, train_tiny, write_sims

STAGES = network_stages("hybrid")


def make_cfg(root, *extra):
    return compose(
        "config_sims",
        overrides(
            root,
            f"pipeline.stages={STAGES}",
            f"model.hybrid.detectors=[{','.join(map(str, DETS))}]",
            "model.hybrid.network.width=4",
            "model.hybrid.num_epochs=2",
            "model.hybrid.batch_size=2",
            "model.hybrid.device=cpu",
            "model.hybrid.target_beam=null",
            *extra,
        ),
    )


def write_ilc(cfg, truth):
    """A stand-in ILC prediction per simulation: the truth plus white noise of rms 10 uK."""
    handler = get_handler("healpix_map")
    rng = np.random.default_rng(5)
    ilc = {}
    for (split, sim), cmb in truth.items():
        ilc[split, sim] = cmb + rng.standard_normal(cmb.shape) * 10
        path = f"{cfg.local_system.datasets_root}/{cfg.dataset_name}/PyILC_CNILC/{split}"
        handler.write(f"{path}/sim{sim:04d}/cmb_map_pred.fits", ilc[split, sim])
    return ilc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("hybrid")
    cfg = make_cfg(root, "pipeline.only=[hybrid_scale]")
    truth = write_sims(cfg)
    ilc = write_ilc(cfg, truth)
    cfg = make_cfg(root)
    _, reports = train_tiny(cfg, write=False)
    return root, cfg, truth, ilc, reports


def test_inputs_hold_the_ilc_map_and_the_target_is_its_error(trained):
    root, cfg, truth, ilc, reports = trained
    assert reports["hybrid_preprocess"].ran == sum(SPLITS.values())
    pre = root / cfg.dataset_name / "Hybrid" / "Preprocessed" / "Train" / "sim0001"
    obs = np.load(pre / "obs_nest.npy")
    assert obs.shape[:2] == (1, 1 + len(DETS))
    np.testing.assert_allclose(nest_to_ring(obs[:, :1])[0] * 5, ilc["Train", 1], rtol=1e-5)
    error = nest_to_ring(np.load(pre / "cmb_nest.npy"))[0] * 5
    np.testing.assert_allclose(error, truth["Train", 1] - ilc["Train", 1], atol=1e-3)


def test_prediction_is_the_ilc_map_plus_the_correction(trained):
    root, cfg, _, ilc, _ = trained
    work = root / cfg.dataset_name / "Hybrid"
    pred = get_handler("healpix_map").read(work / "Test" / "sim0001" / "cmb_map_pred_e0002.fits")
    correction = np.load(work / "Predicted" / "Test" / "sim0001" / "cmb_nest_e0002.npy")
    np.testing.assert_allclose(pred, ilc["Test", 1] + nest_to_ring(correction)[0] * 5, atol=1e-3)


def test_polarisation_is_refused(tmp_path):
    cfg = make_cfg(tmp_path, "scenario.map_fields=IQU", "model.hybrid.fields=auto")
    with pytest.raises(ConfigError, match="Hybrid cleans I only"):
        run_pipeline(cfg)


@pytest.mark.parametrize(
    ("pixwin", "window"),
    [("true", True), ("dataset", False)],
    ids=["pixel-window", "dataset-without-window"],
)
def test_default_target_is_the_truth_at_the_ilc_resolution(tmp_path, pixwin, window):
    """With the shipped target_beam (the ILC's 20.6 arcmin; the pixel window as the dataset
    records it, like the ILC's output), the target is the truth smoothed as healpy smooths it
    (minus the ILC map); the pixel window is cmbml's offline one (healpy downloads its
    tables). A dataset without the window (CMB-ML's) gets a target without it."""
    import healpy as hp

    from cmbml.hybrid.stages.preprocess import HybridPreprocess
    from cmbml.sphere import pixel_window

    cfg = make_cfg(
        tmp_path,
        f"model.hybrid.target_beam={{fwhm_arcmin:20.6,pixwin:{pixwin}}}",
        f"dataset.pixel_window={str(window).lower()}",
    )
    cfg.pipeline.stages = ["hybrid_scale", "hybrid_preprocess"]
    assert HybridPreprocess(cfg).output_resolution() == (20.6, window)
    truth = write_sims(cfg)
    ilc = write_ilc(cfg, truth)
    train_tiny(cfg, write=False)
    pre = tmp_path / cfg.dataset_name / "Hybrid" / "Preprocessed" / "Test" / "sim0000"
    error = nest_to_ring(np.load(pre / "cmb_nest.npy"))[0] * 5
    nside = hp.npix2nside(error.size)
    alm = hp.map2alm(truth["Test", 0], lmax=3 * nside - 1, iter=3)
    fl = hp.gauss_beam(np.radians(20.6 / 60), lmax=3 * nside - 1)
    if window:
        fl = fl * pixel_window(nside)[: 3 * nside]
    smoothed = hp.alm2map(hp.almxfl(alm, fl), nside)
    np.testing.assert_allclose(error, smoothed - ilc["Test", 0], atol=0.05)


def test_paper_preset_is_cmb_mls_spherical_unet_on_the_ilc_map_and_nine_bands():
    """model/hybrid=paper: DeepSphere's published network (CMB-ML's SphericalUNet, width 32,
    K 3) with the CNILC map as a tenth input, and CMB-ML's DeepSphere optimisation."""
    from hydra.utils import instantiate

    from tests.deepsphere.test_unet import cmb_ml_parameter_count

    cfg = compose("config_hybrid", ["model/hybrid=paper", "scenario=paper_512", "splits=1450"])
    settings = cfg.model.hybrid
    network = instantiate(settings.network, in_channels=1 + len(settings.detectors), nside=512)
    assert sum(p.numel() for p in network.parameters()) == cmb_ml_parameter_count(10)
    assert (settings.lr, settings.lr_min, settings.batch_size) == (1e-3, 1e-3, 11)
    assert settings.target_beam.pixwin == "dataset"
