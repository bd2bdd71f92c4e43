"""A finished dataset stays up to date when the checkout or the assets folder moves, and for a
second checkout on the same datasets root: stage hashes hold no machine paths (an asset is its
path relative to the assets folder; its content is in the unit's manifest).

Tiny dataset: nside 8, Train / Valid / Test 1 / 1 / 1, CAMB's quickest setting.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cmbml.core import compose, run_pipeline
from cmbml.core.pipeline import build_stages, stage_hashes
from cmbml.core.provenance import PathCodec

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "scenario.nside=8",
    "scenario.nside_sky=16",
    "splits.Train.n_sims=1",
    "splits.Valid.n_sims=1",
    "splits.Test.n_sims=1",
    "model.sim.cmb.camb_accuracy=temperature",
]
#: The stages whose hashes held the instrument table or the cosmology prior table.
ASSET_STAGES = ["make_instrument", "make_cosmology", "make_cmb_spectra", "make_foregrounds"]
ALL_STAGES = [*ASSET_STAGES, "make_sky"]
#: What a checkout needs to run main_sims.py.
CHECKOUT = ["cfg", "cmbml", "assets/cosmology", "assets/instrument", "main_sims.py"]


def test_portable_config_names_paths_by_root(tmp_path):
    codec = PathCodec({"dataset": tmp_path / "data" / "D", "assets": tmp_path / "assets"})
    config = {
        "table": str(tmp_path / "assets" / "instrument" / "t.csv"),
        "files": [str(tmp_path / "data" / "D" / "x.fits"), "relative/y.fits", 3, None],
        "nested": {"outside": "/opt/elsewhere/z.fits", "unit": "uK_CMB/sr"},
    }
    assert codec.portable(config) == {
        "table": "@assets/instrument/t.csv",
        "files": ["@dataset/x.fits", "relative/y.fits", 3, None],
        "nested": {"outside": "/opt/elsewhere/z.fits", "unit": "uK_CMB/sr"},
    }


def _sims(root: Path, assets: Path):
    return compose(
        "config_sims",
        [*TINY, f"local_system.datasets_root={root}", f"local_system.assets_dir={assets}"],
    )


def _copy_assets(dest: Path, *, keep_mtimes: bool) -> Path:
    copy = shutil.copy2 if keep_mtimes else shutil.copy
    for part in ("cosmology", "instrument"):
        shutil.copytree(REPO / "assets" / part, dest / part, copy_function=copy)
    return dest


def test_stage_hashes_hold_no_assets_path(tmp_path):
    a = _copy_assets(tmp_path / "a" / "assets", keep_mtimes=True)
    b = _copy_assets(tmp_path / "elsewhere" / "b", keep_mtimes=False)
    root = tmp_path / "data"
    one, two = _sims(root, a), _sims(root, b)
    names = list(one.pipeline.stages)  # the simulation stages (others need other configs)
    assert stage_hashes(build_stages(one, names)) == stage_hashes(build_stages(two, names))
    edited = compose(
        "config_sims",
        [
            *TINY,
            f"local_system.datasets_root={root}",
            f"local_system.assets_dir={a}",
            f"model.sim.instrument.table={a}/instrument/other.csv",
        ],
    )
    moved = stage_hashes(build_stages(one, names))
    other = stage_hashes(build_stages(edited, names))
    assert moved["make_instrument"] != other["make_instrument"]  # another table, another unit
    assert moved["make_cosmology"] == other["make_cosmology"]


def test_moved_assets_folder_keeps_the_dataset_up_to_date(tmp_path):
    assets = _copy_assets(tmp_path / "assets", keep_mtimes=True)
    root = tmp_path / "data"
    first = run_pipeline(_sims(root, assets))
    assert {name: first[name].ran for name in ALL_STAGES} == {
        "make_instrument": 1,
        "make_cosmology": 3,
        "make_cmb_spectra": 3,
        "make_foregrounds": 1,
        "make_sky": 3,
    }
    moved = tmp_path / "moved" / "assets"
    moved.parent.mkdir()
    shutil.move(assets, moved)
    again = run_pipeline(_sims(root, moved))
    assert {name: r.ran for name, r in again.items()} == dict.fromkeys(again, 0)
    copied = _copy_assets(tmp_path / "copied", keep_mtimes=False)  # new mtimes, same content
    again = run_pipeline(_sims(root, copied))
    assert {name: r.ran for name, r in again.items()} == dict.fromkeys(again, 0)


def _checkout(dest: Path) -> Path:
    """A copy of this checkout's files main_sims.py needs (new mtimes, like a clone)."""
    for part in CHECKOUT:
        source = REPO / part
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(source, dest / part, ignore=ignore, copy_function=shutil.copy)
        else:
            shutil.copy(source, dest / part)
    return dest


def _main_sims(checkout: Path, root: Path) -> dict[str, tuple[int, int]]:
    """Run ``main_sims.py`` of ``checkout``; per stage (units computed, units up to date)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run(
        [sys.executable, "main_sims.py", *TINY, f"local_system.datasets_root={root}"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.findall(r"stage (\w+): (\d+) to compute, (\d+) up to date", proc.stdout)
    return {name: (int(ran), int(done)) for name, ran, done in found}


@pytest.mark.slow  # three runs of main_sims.py in fresh processes (~15 s idle, ~45 s loaded)
def test_moved_and_second_checkout_find_the_dataset_up_to_date(tmp_path):
    root = tmp_path / "datasets"
    checkout = _checkout(tmp_path / "one" / "cmbml")
    first = _main_sims(checkout, root)
    assert first["make_cosmology"] == (3, 0) and first["make_foregrounds"] == (1, 0)
    moved = tmp_path / "two" / "renamed"
    moved.parent.mkdir()
    shutil.move(checkout, moved)
    for run in (_main_sims(moved, root), _main_sims(_checkout(tmp_path / "second"), root)):
        assert set(run) == set(first)
        assert {name: ran for name, (ran, _) in run.items()} == dict.fromkeys(run, 0)
