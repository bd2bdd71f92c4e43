"""Plane dataset, training loop, learning-rate schedule and exact resume."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from cmbml.cmbnncs import PlaneDataset, TrainConfig, Trainer, UNet, predict_batches

NSIDE = 8
SHAPE = (4 * NSIDE, 3 * NSIDE)


def write_sims(tmp_path, n, seed, n_det=2):
    """Synthetic sims: target = smooth field, features = target + per-detector offsets/noise."""
    rng = np.random.default_rng(seed)
    feats, targs = [], []
    for i in range(n):
        t = rng.standard_normal(SHAPE)
        t = (t + np.roll(t, 1, 0) + np.roll(t, 1, 1)) / 3
        f = np.stack([t + 0.3 * (d + 1) + 0.1 * rng.standard_normal(SHAPE) for d in range(n_det)])
        fp, tp = tmp_path / f"f_{seed}_{i}.npy", tmp_path / f"t_{seed}_{i}.npy"
        np.save(fp, f)  # float64 on disk: the dataset must hand out float32
        np.save(tp, t[None])
        feats.append(fp)
        targs.append(tp)
    return PlaneDataset(feats, targs)


def small_unet(seed=0):
    torch.manual_seed(seed)
    return UNet(2, 1, channels=(8, 16), kernels=(5, 4, 4, 5))


def test_dataset_items(tmp_path):
    ds = write_sims(tmp_path, 3, seed=0)
    assert len(ds) == 3
    x, y = ds[1]
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert x.shape == (2, *SHAPE) and y.shape == (1, *SHAPE)
    np.testing.assert_allclose(x.numpy(), np.load(ds.feature_paths[1]), rtol=1e-6)
    features_only = PlaneDataset(ds.feature_paths)
    assert features_only[0].shape == (2, *SHAPE)


def test_dataset_errors(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 4, 4, 4)))
    np.save(tmp_path / "f.npy", np.zeros((2, 32, 24)))
    np.save(tmp_path / "t.npy", np.zeros((1, 16, 12)))
    with pytest.raises(ValueError, match="bad.npy"):
        PlaneDataset([tmp_path / "bad.npy"])[0]
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        PlaneDataset([tmp_path / "missing.npy"])[0]
    with pytest.raises(ValueError, match="t.npy"):
        PlaneDataset([tmp_path / "f.npy"], [tmp_path / "t.npy"])[0]
    with pytest.raises(ValueError, match="2 feature files but 1 target"):
        PlaneDataset([tmp_path / "f.npy"] * 2, [tmp_path / "t.npy"])


def test_training_decreases_loss(tmp_path):
    train = write_sims(tmp_path, 12, seed=1)
    valid = write_sims(tmp_path, 4, seed=2)
    cfg = TrainConfig(num_epochs=6, batch_size=4, repeat_n=3, lr=1e-2, lr_min=1e-4)
    trainer = Trainer(small_unet(), train, valid, cfg, device="cpu")
    initial_valid = trainer.evaluate()
    history = trainer.fit()
    assert [row["epoch"] for row in history] == list(range(1, 7))
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[-1]["valid_loss"] < 0.65 * initial_valid


def test_epoch_train_loss_is_mean_over_that_epoch(tmp_path):
    # With a negligible learning rate the weights stay put, so each epoch's train loss must equal
    # the mean L1 of the (BN-free) model over the training set, every epoch (reset, not summed).
    train = write_sims(tmp_path, 7, seed=3)
    torch.manual_seed(0)
    model = nn.Conv2d(2, 1, 3, padding=1)
    cfg = TrainConfig(num_epochs=3, batch_size=3, repeat_n=2, lr=1e-12, lr_min=1e-13)
    history = Trainer(model, train, None, cfg, device="cpu").fit()
    with torch.no_grad():
        direct = np.mean([(model(x[None]) - y[None]).abs().mean().item() for x, y in train])
    for row in history:
        assert row["train_loss"] == pytest.approx(direct, rel=1e-5)
        assert math.isnan(row["valid_loss"])


def test_learning_rate_schedule(tmp_path):
    train = write_sims(tmp_path, 5, seed=4)  # batch 2 -> 3 batches per epoch
    cfg = TrainConfig(num_epochs=4, batch_size=2, repeat_n=1, lr=1e-1, lr_min=1e-6)
    trainer = Trainer(small_unet(), train, None, cfg, device="cpu")
    assert trainer.lr == pytest.approx(1e-1)
    history = trainer.fit()
    gamma = (1e-6 / 1e-1) ** (1 / 12)
    for row in history:
        assert row["lr"] == pytest.approx(1e-1 * gamma ** (3 * row["epoch"]), rel=1e-9)
    assert history[-1]["lr"] == pytest.approx(1e-6, rel=1e-9)


def test_resume_equals_uninterrupted(tmp_path):
    train = write_sims(tmp_path, 10, seed=5)
    valid = write_sims(tmp_path, 3, seed=6)
    cfg = TrainConfig(num_epochs=2, batch_size=4, repeat_n=3, seed=7, checkpoint_epochs=[1])

    def save(epoch, state):
        torch.save(state, tmp_path / f"epoch{epoch}.pt")

    full = Trainer(small_unet(seed=0), train, valid, cfg, device="cpu")
    full_history = full.fit(on_checkpoint=save)
    assert sorted(p.name for p in tmp_path.glob("epoch*.pt")) == [
        "epoch0.pt",
        "epoch1.pt",
        "epoch2.pt",
    ]
    checkpoint = torch.load(tmp_path / "epoch1.pt", weights_only=True)

    torch.manual_seed(12345)  # disturb the global RNG: the checkpoint must restore it
    np.random.seed(1)
    resumed = Trainer(small_unet(seed=99), train, valid, cfg, device="cpu")
    resumed.load_state_dict(checkpoint)
    assert resumed.epoch == 1
    new_checkpoints = []
    resumed_history = resumed.fit(on_checkpoint=lambda epoch, state: new_checkpoints.append(epoch))
    assert new_checkpoints == [2]

    full_state, resumed_state = full.model.state_dict(), resumed.model.state_dict()
    for name, value in full_state.items():
        torch.testing.assert_close(resumed_state[name], value, rtol=1e-6, atol=1e-7, msg=name)
    assert len(resumed_history) == 2
    for a, b in zip(full_history, resumed_history, strict=True):
        assert a["epoch"] == b["epoch"]
        for key in ("train_loss", "valid_loss", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-6)

    # the shuffle order matters here: the same checkpoint resumed with another seed diverges
    other = Trainer(small_unet(seed=99), train, valid, replace(cfg, seed=8), device="cpu")
    other.load_state_dict(checkpoint)
    other.fit()
    assert not torch.allclose(other.model.down[0][0].weight, full.model.down[0][0].weight)


def test_epoch_decay_does_not_depend_on_the_split_size(tmp_path):
    # lr_decay="epoch": the rate is lr * (lr_min/lr)**(e/E) during epoch e, for 5 or 11 sims
    histories = []
    for n in (5, 11):
        train = write_sims(tmp_path, n, seed=10 + n)
        cfg = TrainConfig(
            num_epochs=4, batch_size=2, repeat_n=1, lr=1e-2, lr_min=1e-4, lr_decay="epoch"
        )
        trainer = Trainer(small_unet(), train, None, cfg, device="cpu")
        seen = []
        trainer.optimizer.register_step_pre_hook(
            lambda opt, args, kwargs, _seen=seen, _t=trainer: _seen.append((_t.epoch, _t.lr))
        )
        histories.append(trainer.fit())
        assert len(seen) == 4 * math.ceil(n / 2)
        for epoch, lr in seen:
            assert lr == pytest.approx(1e-2 * 1e-2 ** (epoch / 4), rel=1e-12)
    assert [row["lr"] for row in histories[0]] == [row["lr"] for row in histories[1]]
    assert histories[0][-1]["lr"] == pytest.approx(1e-4, rel=1e-12)


def test_predict_batches_in_order(tmp_path):
    ds = write_sims(tmp_path, 5, seed=8)
    model = small_unet().eval()
    out = np.concatenate(list(predict_batches(model, ds, batch_size=2, device="cpu")))
    assert out.shape == (5, 1, *SHAPE) and out.dtype == np.float32
    with torch.no_grad():
        direct = model(ds[3][0][None]).numpy()
    np.testing.assert_allclose(out[3:4], direct, rtol=1e-5, atol=1e-6)


def test_train_config_validation():
    with pytest.raises(ValueError, match="num_epochs"):
        TrainConfig(num_epochs=0)
    with pytest.raises(ValueError, match="lr_min"):
        TrainConfig(num_epochs=1, lr=1e-3, lr_min=1e-2)
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(num_epochs=1, lr_decay="step")
