"""The DeepSphere stages through the real pipeline runner on the tiny nside-32 dataset."""

import healpy as hp
import numpy as np
import pytest

from cmbml.core import compose, get_handler
from cmbml.deepsphere import nest_to_ring
from tests.cmbnncs.tiny import (
    DETS,
    NSIDE,
    check_exact_resume,
    network_stages,
    overrides,
    tiny_runs,
    train_tiny,
)

STAGES = network_stages("deepsphere")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("deepsphere")
    cfg = compose(
        "config_sims",
        overrides(
            root,
            f"pipeline.stages={STAGES}",
            f"model.deepsphere.detectors=[{','.join(map(str, DETS))}]",
            "model.deepsphere.network.width=4",
            "model.deepsphere.network.dropout=0.5",
            "model.deepsphere.num_epochs=2",
            # the demo's rate (1e-2) kills every feature of a width-4 network in 2 epochs, and
            # a sigma of 0 everywhere cannot be calibrated
            "model.deepsphere.lr=3.0e-3",
            "model.deepsphere.lr_min=3.0e-4",
            "model.deepsphere.batch_size=2",
            "model.deepsphere.checkpoint_every=1",
            "model.deepsphere.mc_samples=3",
            "model.deepsphere.device=cpu",
        ),
    )
    truth, reports = train_tiny(cfg)
    return root, cfg, truth, reports


def test_pipeline_writes_nest_stacks_predictions_and_sigma(trained):
    root, cfg, truth, reports = trained
    assert {name: report.ran for name, report in reports.items()} == tiny_runs("deepsphere")
    work = root / cfg.dataset_name / "DeepSphere"
    cmb = np.load(work / "Preprocessed" / "Train" / "sim0001" / "cmb_nest.npy")
    assert cmb.shape == (1, 1, hp.nside2npix(NSIDE))
    target = float(cfg.model.deepsphere.scale_target)  # uK_CMB per unit of the target
    np.testing.assert_allclose(nest_to_ring(cmb)[0] * target, truth["Train", 1], rtol=1e-5)
    handler = get_handler("healpix_map")
    pred = handler.read(work / "Test" / "sim0000" / "cmb_map_pred_e0002.fits")
    sigma = handler.read(work / "Test" / "sim0000" / "cmb_map_sigma_e0002.fits")
    assert pred.shape == sigma.shape == (hp.nside2npix(NSIDE),)
    assert np.isfinite(pred).all() and (sigma >= 0).all() and sigma.max() > 0
    calibration = (work / "Predicted" / "sigma_calibration_I_e0002.yaml").read_text()
    assert "factor" in calibration and "valid_coverage_before" in calibration


def test_an_interrupted_training_resumes_exactly(trained, caplog):
    root, cfg, _, _ = trained
    check_exact_resume(cfg, root / cfg.dataset_name / "DeepSphere", "deepsphere_train", caplog)
