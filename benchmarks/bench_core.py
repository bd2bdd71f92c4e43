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


#: Simulations of the published layout (Train 1000, Valid 250, Test 200).
PAPER_SIMS = 1450


def _io_read_bytes() -> int:
    """Bytes this process has read through read() calls so far (``/proc/self/io`` rchar)."""
    for line in open("/proc/self/io"):
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _ledger_checks(cfg) -> tuple[float, int]:
    """Time the up-to-date checks alone (manifest read + stat per file) over every unit."""
    from cmbml.core import Catalog, build_stages
    from cmbml.core.manifests import Ledger

    stages = build_stages(cfg, list(cfg.pipeline.stages))
    ledger = Ledger(Catalog.from_config(cfg))
    hashes = {name: stage.config_hash() for name, stage in stages.items()}
    units = {n: list(s.units()) if s.per_sim else [None] for n, s in stages.items()}
    keys = {n: s.manifest_key() for n, s in stages.items()}
    start = time.perf_counter()
    done = [ledger.is_done(keys[n], u, hashes[n]) for n in stages for u in units[n]]
    assert all(done)
    return time.perf_counter() - start, len(done)


@benchmark("core.noop_rerun_per_unit.nside64")
def noop_rerun() -> dict:
    """A rerun with nothing to do: its fixed cost, its cost per unit, extrapolated.

    A nside-64 dataset (Train 20 / Valid 2 / Test 4) is simulated, cleaned with CNILC and
    analysed (sims + pyilc_predict + pyilc_analysis); the same run is then repeated with
    everything up to date (best of five). The checks that grow with the dataset (one manifest
    read and one ``stat()`` per recorded file, independent of file sizes) are also timed alone:
    ``per_unit_ms``. ``extrapolated_1450_s`` is the fixed part (config resolution, stage hashes,
    lock, logs) plus ``per_unit_ms`` times the units of the 1450-simulation layout (the same
    stages, so it holds at nside 512 too). ``read_bytes_per_unit`` shows that no content is
    hashed.
    """
    import json
    from pathlib import Path

    from cmbml.core import compose, run_pipeline

    n_sims = 26
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            f"local_system.datasets_root={tmp}",
            "splits.Train.n_sims=20",
            "splits.Valid.n_sims=2",
            "splits.Test.n_sims=4",
            "model.sim.cmb.camb_accuracy=temperature",
        ]
        cfg = compose("config_all", overrides)
        stages = [*cfg.pipeline.tasks.sims, "pyilc_predict", *cfg.pipeline.tasks.pyilc_analysis]
        cfg = compose("config_all", [*overrides, f"pipeline.stages=[{','.join(stages)}]"])
        run_pipeline(cfg)
        manifests = [json.loads(p.read_text()) for p in Path(tmp).rglob("Manifests/**/*.json")]
        files = sum(len(m["inputs"]) + len(m["outputs"]) for m in manifests)
        runs = []
        for _ in range(5):
            read0, start = _io_read_bytes(), time.perf_counter()
            reports = run_pipeline(cfg)
            runs.append((time.perf_counter() - start, _io_read_bytes() - read0))
            assert all(r.ran == 0 for r in reports.values())
        checks, units = min(_ledger_checks(cfg) for _ in range(5))
    wall = min(w for w, _ in runs)
    units_1450 = units / n_sims * PAPER_SIMS
    return {
        "wall_s": wall,
        "units": units,
        "recorded_files": files,
        "fixed_s": wall - checks,
        "per_unit_ms": 1e3 * checks / units,
        "per_file_us": 1e6 * checks / files,
        "read_bytes_per_unit": min(b for _, b in runs) / units,
        "extrapolated_1450_units": round(units_1450),
        "extrapolated_1450_s": wall - checks + checks / units * units_1450,
    }
