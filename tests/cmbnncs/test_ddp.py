"""Data-parallel training: 2 real gloo processes on CPU equal 1 process with the same batch."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cmbml.cmbnncs import TrainConfig, Trainer, UNet
from cmbml.nn.ddp import DistributedBatchNorm2d, synchronise_batch_norm
from tests.cmbnncs.tiny import noisy_planes

SHAPE = (32, 24)
CONFIG = dict(
    num_epochs=3, batch_size=4, repeat_n=2, lr=1e-2, lr_min=1e-3, seed=11, checkpoint_epochs=[1]
)


def write_sims(folder, n, seed):
    return noisy_planes(folder, n, seed, shape=SHAPE, n_det=2, noise=0.5)


def small_unet():
    """A 2-level UNet whose convolution biases feeding a BatchNorm are frozen.

    Those biases have a zero gradient in exact arithmetic (BatchNorm removes them); Adam turns
    the rounding noise of that gradient into full-size steps, so they would differ between any
    two summation orders (and with them the running means and eval-mode outputs).
    """
    torch.manual_seed(3)
    net = UNet(2, 1, channels=(6, 12), kernels=(4, 4, 4, 2))
    for block in [*net.down, *net.up]:
        if isinstance(block[1], torch.nn.BatchNorm2d):
            block[0].bias.requires_grad_(False)
    return net


def train(folder, resume=None, save_as=None):
    """Train on the sims in ``folder`` (in whatever process group exists)."""
    train_set, valid_set = write_sims(folder, 8, seed=0), write_sims(folder, 3, seed=1)
    trainer = Trainer(small_unet(), train_set, valid_set, TrainConfig(**CONFIG), device="cpu")
    if resume is not None:
        trainer.load_state_dict(torch.load(resume, weights_only=True))

    def save(epoch, state):
        if save_as is not None:
            torch.save(state, folder / f"{save_as}_e{epoch}.pt")

    history = trainer.fit(on_checkpoint=save)
    return {"history": history, "model": trainer.module.state_dict()}


def _worker(rank, world, folder):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{folder / 'rendezvous'}", rank=rank, world_size=world
    )
    try:
        full = train(folder, save_as=f"ddp_rank{rank}")
        resumed = train(folder, resume=folder / "single_e1.pt")
        torch.save({"full": full, "resumed": resumed}, folder / f"result_rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def assert_same_run(a, b, rtol=1e-4, atol=1e-5):
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=rtol, atol=atol, msg=name)
    assert [row["epoch"] for row in a["history"]] == [row["epoch"] for row in b["history"]]
    for row_a, row_b in zip(a["history"], b["history"], strict=True):
        for key in ("train_loss", "valid_loss", "lr"):
            assert row_b[key] == pytest.approx(row_a[key], rel=1e-5), key


def test_two_gloo_processes_equal_one_process_and_resume(tmp_path):
    single = train(tmp_path, save_as="single")
    mp.spawn(_worker, args=(2, tmp_path), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "result_rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "result_rank1.pt", weights_only=True)
    # the two processes hold the same model (synchronised gradients and BatchNorm statistics)
    assert_same_run(rank0["full"], rank1["full"], rtol=0, atol=0)
    # ... which is the single-process model trained with the same global batch
    assert_same_run(single, rank0["full"])
    # checkpoints come from rank 0 only, and they are the single-process ones
    assert sorted(p.name for p in tmp_path.glob("ddp_rank*_e*.pt")) == [
        f"ddp_rank0_e{e}.pt" for e in (0, 1, 3)
    ]
    ddp_e1 = torch.load(tmp_path / "ddp_rank0_e1.pt", weights_only=True)
    assert_same_run(
        {"model": torch.load(tmp_path / "single_e1.pt", weights_only=True)["model"], "history": []},
        {"model": ddp_e1["model"], "history": []},
    )
    # a single-process checkpoint resumes on 2 processes, and a 2-process one on 1 process
    assert_same_run(single, rank0["resumed"])
    assert_same_run(single, train(tmp_path, resume=tmp_path / "ddp_rank0_e1.pt"))


def test_batch_norm_conversion_keeps_the_state_dict():
    torch.manual_seed(0)
    net = small_unet()
    net(torch.randn(4, 2, *SHAPE))  # update the running statistics
    before = {k: v.clone() for k, v in net.state_dict().items()}
    converted = synchronise_batch_norm(net, torch.device("cpu"))
    bns = [m for m in converted.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(isinstance(m, DistributedBatchNorm2d) for m in bns)
    after = converted.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)
    x = torch.randn(3, 2, *SHAPE)
    converted.eval()
    plain = small_unet()
    plain.load_state_dict(after)
    torch.testing.assert_close(converted(x), plain.eval()(x))
