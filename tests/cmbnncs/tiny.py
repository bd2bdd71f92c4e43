"""A tiny nside-32 dataset for the CMBNNCS stages: FITS maps in the simulations' layout."""

import numpy as np

from cmbml.core import compose, get_handler

NSIDE = 32  # the smallest nside UNet5 takes
DETS = [100, 143, 217, 353]
STAGES = "[cmbnncs_scale,cmbnncs_preprocess,cmbnncs_train,cmbnncs_predict,cmbnncs_postprocess]"
SPLITS = {"Train": 2, "Valid": 1, "Test": 2}


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


def write_sims(cfg):
    """CMB + frequency-scaled 'foreground' + noise, IQU for the obs maps like the simulations."""
    handler = get_handler("healpix_map")
    rng = np.random.default_rng(0)
    npix = 12 * NSIDE**2
    dust = np.abs(rng.standard_normal(npix)) * 20
    truth = {}
    for split, n in SPLITS.items():
        for sim in range(n):
            cmb = rng.standard_normal(npix) * 70
            truth[split, sim] = cmb
            base = cfg.local_system.datasets_root + f"/{cfg.dataset_name}/Simulation/{split}"
            handler.write(f"{base}/sim{sim:04d}/cmb_map_fid.fits", cmb)
            for det in DETS:
                obs = cmb + dust * (det / 100) ** 2 + rng.standard_normal(npix) * 5
                iqu = np.stack([obs, 0.1 * obs, -0.1 * obs])
                handler.write(f"{base}/sim{sim:04d}/obs_{det}_map.fits", iqu)
    return truth
