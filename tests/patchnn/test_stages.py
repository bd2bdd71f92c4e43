"""The PatchNN stages through the real pipeline runner on the tiny nside-32 dataset."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from cmbml.analysis.uncertainty import uncertainty_metrics
from cmbml.core import ConfigError, build_stages, compose, get_handler, run_pipeline
from cmbml.nn.stack import StackDataset
from cmbml.nn.stack_stages import COVERAGE
from cmbml.nn.uncertainty import mc_predict, sigma_factor
from cmbml.patchnn import PatchUNet, patches_to_sphere
from tests.cmbnncs.tiny import (
    DETS,
    NSIDE,
    check_exact_resume,
    network_stages,
    overrides,
    tiny_runs,
    train_tiny,
)

STAGES = network_stages("patchnn")


def make_cfg(root, *extra):
    return compose(
        "config_sims",
        overrides(
            root,
            f"pipeline.stages={STAGES}",
            f"model.patchnn.detectors=[{','.join(map(str, DETS))}]",
            "model.patchnn.nside_patch=8",
            "model.patchnn.network.features=8",
            "model.patchnn.network.dropout=0.5",
            "model.patchnn.network.depth=2",
            "model.patchnn.num_epochs=2",
            "model.patchnn.batch_size=96",
            "model.patchnn.checkpoint_every=1",
            "model.patchnn.mc_samples=3",
            "model.patchnn.device=cpu",
            *extra,
        ),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("patchnn")
    cfg = make_cfg(root)
    truth, reports = train_tiny(cfg)
    return root, cfg, truth, reports


def test_pipeline_writes_every_product(trained):
    root, cfg, truth, reports = trained
    assert {name: report.ran for name, report in reports.items()} == tiny_runs("patchnn")
    work = root / cfg.dataset_name / "PatchNN"
    assert sorted(p.name for p in (work / "Model").glob("*.pt")) == [
        "model_e0000.pt",
        "model_e0001.pt",
        "model_e0002.pt",
    ]
    log = pd.read_csv(work / "Model" / "train_log.csv")
    assert list(log.epoch) == [1, 2] and np.isfinite(log.train_loss).all()


def test_preprocessed_patches_reassemble_to_the_scaled_maps(trained):
    root, cfg, truth, _ = trained
    pre = root / cfg.dataset_name / "PatchNN" / "Preprocessed" / "Train" / "sim0001"
    cmb = np.load(pre / "cmb_patches.npy")
    obs = np.load(pre / "obs_patches.npy")
    assert cmb.shape == (192, 1, 8, 8) and obs.shape == (192, len(DETS), 8, 8)
    np.testing.assert_allclose(patches_to_sphere(cmb)[0] * 5, truth["Train", 1], rtol=1e-5)


def test_prediction_and_sigma_maps_are_written_beside_each_other(trained):
    root, cfg, truth, _ = trained
    handler = get_handler("healpix_map")
    folder = root / cfg.dataset_name / "PatchNN" / "Test" / "sim0001"
    pred = handler.read(folder / "cmb_map_pred_e0002.fits")
    sigma = handler.read(folder / "cmb_map_sigma_e0002.fits")
    assert pred.shape == sigma.shape == (12 * NSIDE**2,)
    assert np.isfinite(pred).all() and (sigma >= 0).all() and sigma.max() > 0


def test_rerun_skips_and_an_interrupted_training_resumes_exactly(trained, caplog):
    root, cfg, _, _ = trained
    assert all(report.ran == 0 for report in run_pipeline(cfg).values())
    check_exact_resume(cfg, root / cfg.dataset_name / "PatchNN", "patchnn_train", caplog)


def test_monte_carlo_dropout_samples_vary_and_are_reproducible(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "f.npy", rng.standard_normal((6, 2, 8, 8)).astype(np.float32))
    dataset = StackDataset([tmp_path / "f.npy"])
    torch.manual_seed(0)
    network = PatchUNet(2, features=4, depth=2, dropout=0.5)
    first = list(mc_predict(network, dataset, 8, seed=1, batch_size=4, device="cpu"))
    second = list(mc_predict(network, dataset, 8, seed=1, batch_size=4, device="cpu"))
    mean = np.concatenate([m for m, _ in first])
    sigma = np.concatenate([s for _, s in first])
    assert mean.shape == sigma.shape == (6, 1, 8, 8) and (sigma > 0).mean() > 0.9
    np.testing.assert_array_equal(mean, np.concatenate([m for m, _ in second]))
    with pytest.raises(ValueError, match="no dropout"):
        next(mc_predict(PatchUNet(2, features=4, depth=2), dataset, 4, seed=1))
    with pytest.raises(ValueError, match="n_samples >= 2"):
        next(mc_predict(network, dataset, 1, seed=1))


def test_the_valid_factor_gives_the_asked_coverage():
    """Gaussian errors of 2.5 sigma: the factor is 2.5 and +-factor sigma covers 68.27 % (scored
    by the analysis's own coverage)."""
    rng = np.random.default_rng(2)
    sigma = rng.uniform(0.5, 3.0, 200_000)
    truth = rng.standard_normal(sigma.size)
    prediction = truth + 2.5 * sigma * rng.standard_normal(sigma.size)
    factor = sigma_factor(prediction - truth, sigma, COVERAGE)
    assert factor == pytest.approx(2.5, rel=0.01)
    scores = uncertainty_metrics(truth, prediction, factor * sigma)
    assert scores["coverage_1sigma"] == pytest.approx(COVERAGE, abs=1e-4)


def test_a_sigma_no_factor_can_calibrate_is_refused_with_how_much_and_why():
    """sigma 0 with a residual on 52 % of the pixels: a factor leaves them uncovered, more than
    the 31.73 % allowed; sigma 0 where the residual is 0 too is covered by any factor."""
    residual = np.ones(1000)
    sigma = np.where(np.arange(1000) < 520, 0.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN arithmetic on the way
        with pytest.raises(ValueError, match=r"sigma is 0 on 52\.0 % of .* at most 31\.7 %"):
            sigma_factor(residual, sigma, COVERAGE)
    residual[:520] = 0.0
    assert sigma_factor(residual, sigma, COVERAGE) == 1.0


def test_a_network_whose_dropout_changes_nothing_is_named_when_calibrating(trained):
    """A PatchNN whose features before the dropout are 0 (its last convolution zeroed, as a
    collapsed, under-trained network): every Monte-Carlo sample agrees, sigma is 0 on every
    Valid pixel, and the calibration says so and what to do, naming the keys."""
    _, cfg, _, _ = trained
    stage = build_stages(cfg, ["patchnn_predict"])["patchnn_predict"]
    network = stage.build_network(len(DETS))
    with torch.no_grad():
        network.up_conv[-1][-2].weight.zero_()
    with pytest.raises(ConfigError) as error:
        stage._calibrate(network, "I", 2)
    message = str(error.value)
    assert "model.patchnn.sigma_calibration=valid" in message and "100.0 %" in message
    for remedy in ("model.patchnn.num_epochs", "model.patchnn.sigma_calibration=none"):
        assert remedy in message
