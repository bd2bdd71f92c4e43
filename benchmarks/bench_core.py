"""Framework overhead: composing configs and running a pipeline of empty-ish stages."""

import tempfile
import time

from benchmarks.registry import benchmark


@benchmark("core.compose_and_check")
def compose_and_check() -> dict:
    """Compose every primary config and resolve its catalog (the start-up cost of a run)."""
    from cmbml.core import Catalog, compose, validate_config

    start = time.perf_counter()
    names = ["config_sims", "config_pyilc", "config_cmbnncs", "config_comp_models", "config_all"]
    for name in names:
        cfg = compose(name)
        validate_config(cfg)
        catalog = Catalog.from_config(cfg)
        for entry in catalog.entries:
            catalog.check(entry)
    return {"wall_s": time.perf_counter() - start, "n_configs": len(names)}


@benchmark("core.fits_map_roundtrip_nside512_9maps")
def fits_roundtrip() -> dict:
    """Atomic write + read of nine nside-512 float32 FITS maps (the I/O of one simulation)."""
    import numpy as np

    from cmbml.core import get_handler

    handler = get_handler("healpix_map")
    maps = np.random.default_rng(0).standard_normal((9, 12 * 512**2))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for i, m in enumerate(maps):
            handler.write(f"{tmp}/m{i}.fits", m)
        for i in range(len(maps)):
            handler.read(f"{tmp}/m{i}.fits")
        wall = time.perf_counter() - start
    return {"wall_s": wall, "per_map_s": wall / len(maps)}
