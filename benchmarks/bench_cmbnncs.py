"""CMBNNCS benchmarks: sphere <-> plane rearrangement, UNet5 training and inference on CPU.

``cpu_s`` values (process CPU time) are reported beside wall times: on a shared, busy host they
show the work done, where wall times mostly show the wait for a core.

Optionally (a CUDA device present) UNet8 training at nside 512, with and without mixed precision.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.registry import benchmark
from cmbml.cmbnncs import (
    TrainConfig,
    Trainer,
    UNet5,
    UNet8,
    plane_to_sphere,
    sphere_to_plane,
)

N_DET = 4  # detectors 100, 143, 217, 353 GHz


def _best_of(fn, repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time of ``repeat`` calls (CPU time: robust to a busy host)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


@benchmark("cmbnncs.layout.nside512")
def layout_512() -> dict:
    """sphere_to_plane + plane_to_sphere of 4 float64 maps at nside 512 (best of 5)."""
    nside = 512
    maps = np.random.default_rng(0).standard_normal((N_DET, 12 * nside**2))
    start = time.perf_counter()
    sphere_to_plane(maps[:1])  # builds and caches the index tables
    init_s = time.perf_counter() - start
    forward, forward_cpu = _best_of(lambda: sphere_to_plane(maps), 5)
    planes = sphere_to_plane(maps)
    inverse, inverse_cpu = _best_of(lambda: plane_to_sphere(planes), 5)
    return {
        "wall_s": forward + inverse,
        "cpu_s": forward_cpu + inverse_cpu,
        "sphere_to_plane_s": forward,
        "plane_to_sphere_s": inverse,
        "index_tables_s": init_s,
        "n_maps": N_DET,
        "dtype": "float64",
    }


def _train_throughput(
    net_cls,
    nside: int,
    batch_size: int,
    n_batches: int,
    *,
    amp: bool,
    device: str,
    repeat_n: int = 3,
) -> dict:
    torch.manual_seed(0)
    shape = (4 * nside, 3 * nside)
    n = batch_size * n_batches
    data = torch.utils.data.TensorDataset(torch.randn(n, N_DET, *shape), torch.randn(n, 1, *shape))
    cfg = TrainConfig(num_epochs=2, batch_size=batch_size, repeat_n=repeat_n, amp=amp)
    trainer = Trainer(net_cls(N_DET), data, None, cfg, device=device)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.train_epoch()  # warm-up epoch (allocator, kernels)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    trainer.train_epoch()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {
        "wall_s": wall,
        "samples_per_s": n / wall,
        "optimizer_steps_per_s": n_batches * cfg.repeat_n / wall,
        "cpu_s": cpu,
        "batch_size": batch_size,
        "repeat_n": cfg.repeat_n,
        "device": str(trainer.device),
        "torch_threads": torch.get_num_threads(),
    }
    if trainer.device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
        out["amp"] = amp
    return out


@benchmark("cmbnncs.unet5.train.nside64.cpu")
def unet5_train_64() -> dict:
    """UNet5 training throughput at nside 64 on CPU (batch 12, 3 steps per batch)."""
    return _train_throughput(UNet5, 64, batch_size=12, n_batches=1, amp=False, device="cpu")


@benchmark("cmbnncs.unet5.train.demo.cpu")
def unet5_train_demo() -> dict:
    """UNet5 training on CPU with the demo settings (nside 64, batch 2, 1 step per batch)."""
    return _train_throughput(
        UNet5, 64, batch_size=2, n_batches=6, amp=False, device="cpu", repeat_n=1
    )


@benchmark("cmbnncs.unet5.train.nside128.cpu")
def unet5_train_128() -> dict:
    """UNet5 training throughput at nside 128 on CPU (batch 4, 3 steps per batch)."""
    return _train_throughput(UNet5, 128, batch_size=4, n_batches=1, amp=False, device="cpu")


@benchmark("cmbnncs.unet5.infer.nside128.cpu")
def unet5_infer_128() -> dict:
    """Inference per simulation at nside 128 on CPU: 4 maps -> planes -> UNet5 -> RING map."""
    nside = 128
    torch.manual_seed(0)
    net = UNet5(N_DET).eval()
    maps = np.random.default_rng(0).standard_normal((N_DET, 12 * nside**2))

    def one_sim():
        with torch.no_grad():
            x = torch.from_numpy(sphere_to_plane(maps).astype(np.float32))[None]
            return plane_to_sphere(net(x)[0, 0].numpy())

    one_sim()  # warm-up
    n = 5
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        one_sim()
    per_sim = (time.perf_counter() - start) / n
    cpu = (time.process_time() - cpu) / n
    return {
        "wall_s": per_sim,
        "s_per_sim": per_sim,
        "cpu_s_per_sim": cpu,
        "torch_threads": torch.get_num_threads(),
    }


@benchmark("cmbnncs.unet8.train.nside512.cuda")
def unet8_train_512_cuda() -> dict:
    """UNet8 training at nside 512 on CUDA, batch 12, mixed precision off and on."""
    if not torch.cuda.is_available():
        return {"wall_s": 0.0, "skipped": "no CUDA device"}
    fp32 = _train_throughput(UNet8, 512, batch_size=12, n_batches=3, amp=False, device="cuda")
    amp = _train_throughput(UNet8, 512, batch_size=12, n_batches=3, amp=True, device="cuda")
    return {
        "wall_s": fp32["wall_s"] + amp["wall_s"],
        "fp32_samples_per_s": fp32["samples_per_s"],
        "amp_samples_per_s": amp["samples_per_s"],
        "fp32_peak_gpu_mb": fp32["peak_gpu_mb"],
        "amp_peak_gpu_mb": amp["peak_gpu_mb"],
        "gpu": fp32["gpu"],
    }


def _write_random_sims(cfg, n_fields: int) -> None:
    """Random maps (``n_fields`` Stokes fields) at every obs_map / cmb_map path of ``cfg``."""
    from cmbml.core import Catalog, get_handler, get_splits

    catalog, handler = Catalog.from_config(cfg), get_handler("healpix_map")
    rng = np.random.default_rng(0)
    npix = 12 * int(cfg.scenario.nside) ** 2
    for split in get_splits(cfg):
        for sim in range(split.n_sims):
            cmb = (
                rng.standard_normal((n_fields, npix)) * np.array([[70.0], [0.5], [0.5]])[:n_fields]
            )
            handler.write(catalog.path("cmb_map", split=split.name, sim=sim), cmb)
            for det in cfg.model.cmbnncs.detectors:
                obs = cmb + rng.standard_normal((n_fields, npix)) * det
                handler.write(catalog.path("obs_map", split=split.name, sim=sim, freq=det), obs)


@benchmark("cmbnncs.stages.i_vs_iqu.nside64.cpu")
def stages_i_vs_iqu() -> dict:
    """Every CMBNNCS stage at nside 64 (Train 4, Valid 1, Test 1, 2 epochs, demo settings) on a
    temperature-only dataset and on an I, Q, U one (three networks): wall time per stage.

    At this size, writing the checkpoints (model and Adam state, ~75 MB each) is a good part of
    the training stage's time.
    """
    import tempfile

    from cmbml.core import compose, run_pipeline

    stages = [
        "cmbnncs_scale",
        "cmbnncs_preprocess",
        "cmbnncs_train",
        "cmbnncs_predict",
        "cmbnncs_postprocess",
    ]
    out: dict = {"wall_s": 0.0, "torch_threads": torch.get_num_threads()}
    for map_fields in ("I", "I", "IQU"):  # the first run warms up (allocator, file cache)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = compose(
                "config_cmbnncs",
                [
                    f"local_system.datasets_root={tmp}",
                    f"scenario.map_fields={map_fields}",
                    "splits.Train.n_sims=4",
                    "splits.Valid.n_sims=1",
                    "splits.Test.n_sims=1",
                    f"pipeline.stages=[{','.join(stages)}]",
                    "model.cmbnncs.num_epochs=2",
                    "model.cmbnncs.device=cpu",
                ],
            )
            _write_random_sims(cfg, len(map_fields))
            reports = run_pipeline(cfg)
        for name, report in reports.items():
            out[f"{map_fields}_{name}_s"] = report.wall_s
        out["wall_s"] = sum(v for k, v in out.items() if k.endswith("_s") and k != "wall_s")
    out["iqu_over_i_train"] = out["IQU_cmbnncs_train_s"] / out["I_cmbnncs_train_s"]
    return out
