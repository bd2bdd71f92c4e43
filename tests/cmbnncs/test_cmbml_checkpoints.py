"""CMBNNCS checkpoints in CMB-ML's format: loaded into cmbml's UNet, they predict as the network
they were saved from (written here with cmbNNCS's module tree, tests/cmbnncs/cmbml_format.py)."""

import re

import numpy as np
import pytest
import torch

from cmbml.cmbnncs import UNet5, UNet8, plane_to_sphere, sphere_to_plane
from cmbml.cmbnncs.cmbml_checkpoints import load_cmbml_network, read_cmbml_checkpoint
from cmbml.core import BadInputError, ConfigError, compose, get_handler, run_pipeline
from tests.cmbnncs.cmbml_format import (
    CmbmlUNet,
    cmbml_channels,
    randomised,
    save_cmbml_checkpoint,
)
from tests.cmbnncs.tiny import DETS, NSIDE, overrides, write_sims

UNET8_KERNELS = (5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5)
UNET5_KERNELS = (4, 4, 4, 4, 4, 4, 4, 4, 4, 2)


@pytest.mark.parametrize(
    ("max_filters", "kernels", "nside"),
    [(128, UNET8_KERNELS, 256), (64, UNET5_KERNELS, 32)],
    ids=["unet8", "unet5"],
)
def test_checkpoint_predicts_as_the_network_it_was_saved_from(
    tmp_path, max_filters, kernels, nside
):
    depth = len(kernels) // 2
    saved = randomised(CmbmlUNet(cmbml_channels(max_filters, depth), kernels, 4), seed=depth)
    path = tmp_path / "model_120.pth"
    save_cmbml_checkpoint(saved, path, epoch=120)

    network, epoch = load_cmbml_network(path)
    assert epoch == 120 and network.depth == depth and not network.training
    x = torch.randn(2, 4, 4 * nside, 3 * nside, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = saved(x)
        got = network(x)
    assert got.shape == expected.shape == (2, 1, 4 * nside, 3 * nside)
    assert expected.std() > 0.02 * expected.abs().max()  # not a constant map
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6 * float(expected.abs().max()))


@pytest.mark.parametrize(
    ("ours", "max_filters", "kernels"),
    [(UNet8, 2048, UNET8_KERNELS), (UNet5, 512, UNET5_KERNELS)],
    ids=["unet8", "unet5"],
)
def test_published_sizes_map_layer_by_layer(ours, max_filters, kernels):
    """CMB-ML's full UNet8 (16...2048) and UNet5 (32...512) have cmbml's tensors, renamed."""
    with torch.device("meta"):
        theirs = CmbmlUNet(cmbml_channels(max_filters, len(kernels) // 2), kernels, 4)
        mine = ours(4)

    def rename(key):  # conv3.1.weight -> down.2.1.weight, deconv1.0.bias -> up.0.0.bias
        kind, level, rest = re.fullmatch(r"(de)?conv(\d+)\.(.*)", key).groups()
        return f"{'up' if kind else 'down'}.{int(level) - 1}.{rest}"

    renamed = {rename(key): tensor.shape for key, tensor in theirs.state_dict().items()}
    assert renamed == {key: t.shape for key, t in mine.state_dict().items()}


def test_batchnorm_after_the_last_level_is_named(tmp_path):
    net = CmbmlUNet(cmbml_channels(64, 5), UNET5_KERNELS, 4, final_bn=True)
    save_cmbml_checkpoint(net, tmp_path / "model_5.pth", epoch=5)
    with pytest.raises(BadInputError, match=r"deconv5\.1\.running_mean.*deconv5\.2\.weight"):
        load_cmbml_network(tmp_path / "model_5.pth")


def test_other_files_are_refused_with_their_name(tmp_path):
    net = CmbmlUNet(cmbml_channels(64, 5), UNET5_KERNELS, 4)
    torch.save(net.state_dict(), tmp_path / "bare.pth")  # a state dict, not CMB-ML's checkpoint
    with pytest.raises(BadInputError, match=r"bare\.pth.*'epoch', 'model_state_dict'"):
        read_cmbml_checkpoint(tmp_path / "bare.pth")
    torch.save(
        {"epoch": 1, "model_state_dict": {"encoder.0.weight": torch.zeros(1)}}, tmp_path / "x.pth"
    )
    with pytest.raises(BadInputError, match=r"x\.pth: key 'encoder\.0\.weight'"):
        read_cmbml_checkpoint(tmp_path / "x.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(BadInputError, match=r"text\.pth: not a PyTorch checkpoint"):
        read_cmbml_checkpoint(tmp_path / "text.pth")


TINY_CHANNELS = (2, 4, 8, 16, 32)
IMPORT_STAGES = (
    "[cmbnncs_scale,cmbnncs_preprocess,cmbnncs_import,cmbnncs_predict,cmbnncs_postprocess]"
)


def import_cfg(root, checkpoint, stages=IMPORT_STAGES, extra=()):
    """The tiny nside-32 dataset with config_cmbnncs_cmbml and a small UNet5."""
    base = [o for o in overrides(root) if not o.startswith("pipeline.stages=")]
    return compose(
        "config_cmbnncs_cmbml",
        [
            *base,
            f"pipeline.stages={stages}",
            "model/cmbnncs/network=unet5",
            f"model.cmbnncs.network.channels=[{','.join(map(str, TINY_CHANNELS))}]",
            f"model.cmbnncs.cmbml_checkpoint={checkpoint}",
            *extra,
        ],
    )


def test_import_task_predicts_with_cmbml_scaling(tmp_path):
    saved = randomised(CmbmlUNet(TINY_CHANNELS, UNET5_KERNELS, len(DETS)), seed=7)
    checkpoint = tmp_path / "model_2.pth"
    save_cmbml_checkpoint(saved, checkpoint, epoch=2)
    cfg = import_cfg(tmp_path, checkpoint)
    write_sims(cfg)

    reports = run_pipeline(cfg)
    assert reports["cmbnncs_import"].ran == 1 and "cmbnncs_train" not in reports

    handler = get_handler("healpix_map")
    sim = tmp_path / cfg.dataset_name / "Simulation" / "Test" / "sim0001"
    obs = np.stack([handler.read(sim / f"obs_{det}_map.fits", field=0) for det in DETS])
    with torch.no_grad():  # CMB-ML: inputs / 1, prediction * 5
        plane = saved(torch.from_numpy(sphere_to_plane(obs / 1.0)[None].astype(np.float32)))
    expected = plane_to_sphere(plane[0, 0].numpy().astype(np.float64)) * 5.0
    pred = handler.read(
        tmp_path / cfg.dataset_name / "CMBNNCS" / "Test" / "sim0001" / "cmb_map_pred_e0002.fits"
    )
    assert pred.shape == (12 * NSIDE**2,)
    np.testing.assert_allclose(pred, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["model.cmbnncs.num_epochs=3"], r"epoch 2, model.cmbnncs.use_epochs is \[3\]"),
        (["model.cmbnncs.scale_target=1.0"], r"scale_target.*model/cmbnncs=paper"),
        (["model.cmbnncs.network.channels=[2,4,8,16,64]"], r"conv5\.0\.weight \(32, 16, 4, 4\)"),
    ],
    ids=["epoch", "scaling", "architecture"],
)
def test_import_refuses_what_does_not_fit(tmp_path, extra, message):
    save_cmbml_checkpoint(CmbmlUNet(TINY_CHANNELS, UNET5_KERNELS, 4), tmp_path / "m.pth", 2)
    cfg = import_cfg(tmp_path, tmp_path / "m.pth", "[cmbnncs_import]", extra)
    with pytest.raises((ConfigError, BadInputError), match=message):
        run_pipeline(cfg)


def test_config_reads_the_installed_epoch_120_checkpoint_with_cmbml_settings():
    cfg = compose("config_cmbnncs_cmbml", ["local_system.assets_dir=/data/assets"])
    mc = cfg.model.cmbnncs
    assert mc.cmbml_checkpoint == "/data/assets/cmbml_checkpoints/unet8_512_1450/model_120.pth"
    assert (mc.network._target_, mc.detectors, mc.scale_features, mc.scale_target) == (
        "cmbml.cmbnncs.UNet8",
        [100, 143, 217, 353],
        1.0,
        5.0,
    )
    assert "cmbnncs_import" in cfg.pipeline.stages and "cmbnncs_train" not in cfg.pipeline.stages
