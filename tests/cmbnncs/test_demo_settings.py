"""The shipped demo hyper-parameters make UNet5 learn a small foreground-cleaning task."""

import numpy as np
import torch
from hydra.utils import instantiate

from cmbml.cmbnncs import TrainConfig, Trainer, predict_batches
from cmbml.core import compose
from cmbml.nn.scaling import COMPUTED, RunningMoments, check_factor, feature_factors

NSIDE = 32
SHAPE = (4 * NSIDE, 3 * NSIDE)
N_TRAIN, N_TEST = 16, 4
# Per-detector response (uK_CMB per unit template) of two foregrounds, and white-noise levels:
# the 353 GHz map is ~50 times the CMB, the 100 GHz one ~2 times, as in the demo simulations.
DUST = np.array([30.0, 70.0, 400.0, 4000.0])
SYNC = np.array([60.0, 25.0, 10.0, 5.0])
NOISE = np.array([10.0, 5.0, 10.0, 40.0])


def smooth_field(rng, scale):
    """A random plane with power at scales above ``scale`` pixels, unit variance."""
    ky = np.fft.fftfreq(SHAPE[0])[:, None]
    kx = np.fft.fftfreq(SHAPE[1])[None, :]
    filt = np.exp(-0.5 * (np.hypot(ky, kx) * scale) ** 2)
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal(SHAPE)) * filt).real
    return field / field.std()


def simulate(n, rng):
    """CMB (std 100 uK) plus per-simulation foregrounds mixed linearly into 4 channels."""
    cmb = np.stack([100.0 * smooth_field(rng, 2.0) for _ in range(n)])
    dust = np.stack([np.exp(smooth_field(rng, 8.0)) for _ in range(n)])
    sync = np.stack([smooth_field(rng, 12.0) + 2.0 for _ in range(n)])
    noise = rng.standard_normal((n, 4, *SHAPE)) * NOISE[None, :, None, None]
    obs = (
        cmb[:, None]
        + DUST[None, :, None, None] * dust[:, None]
        + SYNC[None, :, None, None] * sync[:, None]
        + noise
    )
    return obs, cmb


def factors(mc, obs, cmb):
    """The demo's feature and target factors, computed as the scale stage does."""
    spec = mc.scale_features
    features = feature_factors(spec, range(4), "scale_features")
    if features is None:
        features = {}
        for d in range(4):
            moments = RunningMoments()
            for sim in obs:
                moments.add(sim[d])
            features[str(d)] = moments.std
    if mc.scale_target == COMPUTED:
        moments = RunningMoments()
        moments.add(cmb)
        target = moments.std
    else:
        target = check_factor(mc.scale_target, "scale_target")
    return np.array([features[str(d)] for d in range(4)]), target


def dataset(obs, cmb, features, target):
    x = torch.from_numpy((obs / features[None, :, None, None]).astype(np.float32))
    y = torch.from_numpy((cmb[:, None] / target).astype(np.float32))
    return torch.utils.data.TensorDataset(x, y)


def test_demo_hyperparameters_learn_a_linear_mixing_task():
    mc = compose("config_cmbnncs").model.cmbnncs
    rng = np.random.default_rng(42)
    obs, cmb = simulate(N_TRAIN + N_TEST, rng)
    features, target = factors(mc, obs[:N_TRAIN], cmb[:N_TRAIN])
    train = dataset(obs[:N_TRAIN], cmb[:N_TRAIN], features, target)
    test = dataset(obs[N_TRAIN:], cmb[N_TRAIN:], features, target)
    torch.manual_seed(0)
    network = instantiate(mc.network, in_channels=4)
    config = TrainConfig.from_settings(mc, seed=1)
    trainer = Trainer(network, train, None, config, device="cpu")
    trainer.fit()
    pred = np.concatenate(list(predict_batches(trainer.module, test, device="cpu")))[:, 0]
    truth = cmb[N_TRAIN:]
    pred = pred * target
    r2 = 1 - np.sum((truth - pred) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert r2 > 0.9, f"R2 {r2:.3f} on the test simulations"
