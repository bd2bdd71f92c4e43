"""A tiny nside-32 dataset for the network stages: FITS maps in the simulations' layout."""

import numpy as np
import torch

from cmbml.cmbnncs import PlaneDataset
from cmbml.core import compose, get_handler, run_pipeline

NSIDE = 32  # the smallest nside UNet5 takes
DETS = [100, 143, 217, 353]
SPLITS = {"Train": 2, "Valid": 1, "Test": 2}
NETWORK_STEPS = ("scale", "preprocess", "train", "predict", "postprocess")


def network_stages(method: str) -> str:
    """The ``pipeline.stages`` override of a network method's five stages."""
    return "[" + ",".join(f"{method}_{step}" for step in NETWORK_STEPS) + "]"


def tiny_runs(method: str) -> dict[str, int]:
    """Units each of a network method's stages computes on the tiny dataset's first run."""
    return {
        f"{method}_scale": 1,
        f"{method}_preprocess": sum(SPLITS.values()),
        f"{method}_train": 1,
        f"{method}_predict": 1,
        f"{method}_postprocess": SPLITS["Test"],
    }


STAGES = network_stages("cmbnncs")
#: Overrides of a polarised (I, Q, U) tiny dataset: see ``write_sims(cfg, "IQU")``.
IQU = ("scenario.map_fields=IQU",)


def overrides(root, *extra):
    """Hydra overrides of the tiny dataset under ``root`` (command-line form)."""
    return [
        # simulation outputs, declared here so the test does not depend on the sims package
        "++catalog.obs_map.path='{root}/{dataset}/Simulation/{split}/sim{sim:04d}/"
        "obs_{freq}_map.fits'",
        "++catalog.obs_map.handler=healpix_map",
        "++catalog.cmb_map.path='{root}/{dataset}/Simulation/{split}/sim{sim:04d}/"
        "cmb_map_fid.fits'",
        "++catalog.cmb_map.handler=healpix_map",
        f"scenario.nside={NSIDE}",
        *(f"splits.{name}.n_sims={n}" for name, n in SPLITS.items()),
        f"pipeline.stages={STAGES}",
        "model.cmbnncs.num_epochs=2",
        "model.cmbnncs.batch_size=2",
        "model.cmbnncs.checkpoint_every=1",
        "model.cmbnncs.device=cpu",
        f"local_system.datasets_root={root}",
        *extra,
    ]


def make_cfg(root, *extra):
    return compose("config_sims", overrides(root, *extra))


def write_sims(cfg, map_fields="I"):
    """CMB + frequency-scaled 'foreground' + noise in the simulations' file layout.

    ``map_fields="I"``: a temperature CMB map and I, Q, U observed maps whose Q, U are copies of
    the intensity. ``"IQU"``: the CMB has independent Q, U (1/100 of the intensity's rms, as on
    the sky) and the observed Q, U are that CMB plus their own foreground and noise.

    Returns
    -------
    dict
        ``(split, sim) -> CMB map`` (``(npix,)`` or ``(3, npix)``, uK_CMB).
    """
    handler = get_handler("healpix_map")
    rng = np.random.default_rng(0 if map_fields == "I" else 1)
    npix = 12 * NSIDE**2
    dust = np.abs(rng.standard_normal(npix)) * 20
    if map_fields == "IQU":
        dust = np.concatenate([dust[None], rng.standard_normal((2, npix)) * 0.5])
    truth = {}
    for split, n in SPLITS.items():
        for sim in range(n):
            base = cfg.local_system.datasets_root + f"/{cfg.dataset_name}/Simulation/{split}"
            cmb = rng.standard_normal(npix) * 70
            if map_fields == "IQU":
                cmb = np.concatenate([cmb[None], rng.standard_normal((2, npix)) * 0.7])
            truth[split, sim] = cmb
            handler.write(f"{base}/sim{sim:04d}/cmb_map_fid.fits", cmb)
            for det in DETS:
                sed = (det / 100) ** 2
                if map_fields == "IQU":
                    iqu = cmb + dust * sed
                    iqu += rng.standard_normal((3, npix)) * np.array([[5.0], [0.05], [0.05]])
                else:
                    obs = cmb + dust * sed + rng.standard_normal(npix) * 5
                    iqu = np.stack([obs, 0.1 * obs, -0.1 * obs])
                handler.write(f"{base}/sim{sim:04d}/obs_{det}_map.fits", iqu)
    return truth


def noisy_planes(folder, n, seed, *, shape, n_det, noise):
    """``n`` synthetic face planes in ``folder``: target a white field ``(1, *shape)``, features
    ``(n_det, *shape)`` the target plus ``noise`` x white noise plus an offset per detector."""
    rng = np.random.default_rng(seed)
    feats, targs = [], []
    for i in range(n):
        t = rng.standard_normal(shape)
        f = np.stack([t + noise * rng.standard_normal(shape) + d for d in range(n_det)])
        feats.append(folder / f"f{seed}_{i}.npy")
        targs.append(folder / f"t{seed}_{i}.npy")
        np.save(feats[-1], f.astype(np.float32))
        np.save(targs[-1], t[None].astype(np.float32))
    return PlaneDataset(feats, targs)


def check_exact_resume(cfg, folder, stage, caplog):
    """Remove the last checkpoint of a finished 2-epoch run in ``folder`` (as if killed during
    epoch 2), rerun, and check that ``stage`` resumed from epoch 1 to the same weights."""
    last = folder / "Model" / "model_e0002.pt"
    straight = torch.load(last, weights_only=True)
    last.unlink()
    assert run_pipeline(cfg)[stage].ran == 1
    assert "resuming from the checkpoint of epoch 1" in caplog.text
    resumed = torch.load(last, weights_only=True)
    assert resumed["history"] == straight["history"]
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)


def train_tiny(cfg, write=True):
    """Write the tiny simulations of ``cfg`` (unless ``write`` is False) and run its pipeline
    on one torch thread.

    Returns
    -------
    tuple
        ``(truth, reports)``: :func:`write_sims`'s truth and the pipeline's stage reports.
    """
    truth = write_sims(cfg) if write else None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return truth, run_pipeline(cfg)
    finally:
        torch.set_num_threads(threads)
