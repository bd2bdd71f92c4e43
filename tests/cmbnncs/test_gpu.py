"""The CUDA path: mixed precision, a training step, pinned loading (run with ``-m gpu``)."""

import numpy as np
import pytest
import torch

from cmbml.cmbnncs import TrainConfig, Trainer, UNet5, make_loader, predict_batches
from tests.cmbnncs.tiny import noisy_planes

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

NSIDE = 32
SHAPE = (4 * NSIDE, 3 * NSIDE)


def planes(tmp_path, n, seed=0):
    return noisy_planes(tmp_path, n, seed, shape=SHAPE, n_det=4, noise=0.3)


def test_amp_forward_backward_unet5():
    torch.manual_seed(0)
    net = UNet5(4).cuda()
    x = torch.randn(2, 4, *SHAPE, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        y = net(x)
        loss = (y.float() - 1).abs().mean()
    assert y.dtype == torch.float16 and y.shape == (2, 1, *SHAPE)
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and g.dtype == torch.float32 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)
    # the float16 forward agrees with float32 to half-precision accuracy
    with torch.no_grad():
        net.eval()
        ref = net(x)
        with torch.autocast("cuda", dtype=torch.float16):
            half = net(x).float()
    assert torch.linalg.norm(half - ref) < 1e-2 * torch.linalg.norm(ref)


def test_amp_training_steps_reduce_the_loss(tmp_path):
    data = planes(tmp_path, 8)
    torch.manual_seed(0)
    config = TrainConfig(num_epochs=3, batch_size=4, repeat_n=3, lr=1e-3, lr_min=1e-4, amp=True)
    trainer = Trainer(UNet5(4), data, data, config, device="cuda")
    assert trainer.amp and trainer.device.type == "cuda"
    assert trainer.scaler.is_enabled()
    start = trainer.evaluate()
    history = trainer.fit()
    assert np.isfinite([row["train_loss"] for row in history]).all()
    assert history[-1]["valid_loss"] < start
    assert all(p.is_cuda and p.dtype == torch.float32 for p in trainer.module.parameters())
    state = trainer.state_dict()
    assert state["scaler"] and state["rng"]["cuda"]


def test_pinned_loading_and_amp_prediction(tmp_path):
    data = planes(tmp_path, 3)
    loader = make_loader(data, 2, device=torch.device("cuda"))
    assert loader.pin_memory
    features, target = next(iter(loader))
    assert features.is_pinned() and target.is_pinned()
    torch.manual_seed(0)
    net = UNet5(4)
    out = np.concatenate(list(predict_batches(net, data, batch_size=2, device="cuda", amp=True)))
    assert out.dtype == np.float32 and out.shape == (3, 1, *SHAPE)
    with torch.no_grad():
        ref = net.eval()(torch.stack([data[i][0] for i in range(3)]).cuda()).cpu().numpy()
    assert np.linalg.norm(out - ref) < 1e-2 * np.linalg.norm(ref)
