"""A real SIGKILL at many points of a run: the rerun equals a clean run, byte for byte.

Each case starts ``tests.core.crash_run`` in a subprocess, which kills itself with SIGKILL at a
chosen atomic write (temporary file complete, or file renamed with its manifest not yet
written). The rerun happens in this process; every product (.npy, FITS, CSV, YAML, PNG, PDF)
must then equal a clean run's bytes, no temporary file may remain, and a further run must find
everything up to date.
"""

import filecmp
import os
import shutil
from pathlib import Path

import pytest

from cmbml.core import compose, run_pipeline
from tests.core.conftest import ALL_TOY_STAGES, TOY
from tests.core.crash_run import products, run_killed

DATASET = "CMB_ML_64_demo"

#: (name, kill spec) for runs of config A on an empty dataset.
FRESH_KILLS = [
    ("first npy, temporary", {"match": "a.npy", "nth": 1, "phase": "written"}),
    ("third npy renamed, no manifest", {"match": "a.npy", "nth": 3, "phase": "renamed"}),
    ("a manifest, temporary", {"match": "Manifests/toy_write", "nth": 2, "phase": "written"}),
    ("fifth derived npy renamed", {"match": "b.npy", "nth": 5, "phase": "renamed"}),
    ("yaml summary, temporary", {"match": "summary.yaml", "nth": 1, "phase": "written"}),
    ("just after a manifest", {"match": "Manifests/toy_summary", "nth": 1, "phase": "renamed"}),
    ("second FITS map, temporary", {"match": "map.fits", "nth": 2, "phase": "written"}),
    ("last FITS map renamed", {"match": "map.fits", "nth": 7, "phase": "renamed"}),
    ("CSV table renamed", {"match": "report.csv", "nth": 1, "phase": "renamed"}),
    ("PNG renamed, PDF not written", {"match": "report.png", "nth": 1, "phase": "renamed"}),
    ("PDF, temporary", {"match": "report.pdf", "nth": 1, "phase": "written"}),
    ("last manifest, temporary", {"match": "Manifests/toy_report", "nth": 1, "phase": "written"}),
]
#: Kill points of a run of config B (toy.scale=3) over a finished dataset of config A.
RECOMPUTE_KILLS = [
    ("B: fourth npy renamed", {"match": "a.npy", "nth": 4, "phase": "renamed"}),
    ("B: third FITS renamed", {"match": "map.fits", "nth": 3, "phase": "renamed"}),
    ("B: PDF, temporary", {"match": "report.pdf", "nth": 1, "phase": "written"}),
]


def _overrides(root: Path, *extra: str) -> list[str]:
    return [*TOY, ALL_TOY_STAGES, f"local_system.datasets_root={root}", *extra]


def _products(root: Path) -> dict[str, Path]:
    return products(root / DATASET)


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


def _killed_run(root: Path, spec: dict, *extra: str) -> None:
    run_killed({"config": "config_sims", "overrides": _overrides(root, *extra), **spec}, 300)


@pytest.fixture(scope="module")
def clean_a(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    run_pipeline(compose("config_sims", _overrides(root)))
    assert len(_products(root)) == 7 * 3 + 4  # a, b, map per sim; yaml, csv, png, pdf
    return root


def _assert_equal_to_clean(root: Path, clean: Path) -> None:
    assert not _temporaries(root)
    got, want = _products(root), _products(clean)
    assert got.keys() == want.keys()
    different = [k for k in want if not filecmp.cmp(got[k], want[k], shallow=False)]
    assert not different
    again = run_pipeline(compose("config_sims", _overrides(root)))
    assert all(r.ran == 0 for r in again.values())


@pytest.mark.parametrize("spec", [s for _, s in FRESH_KILLS], ids=[n for n, _ in FRESH_KILLS])
def test_killed_run_then_rerun_equals_clean_run(tmp_path, clean_a, spec):
    root = tmp_path / "data"
    _killed_run(root, spec)
    run_pipeline(compose("config_sims", _overrides(root)))
    _assert_equal_to_clean(root, clean_a)


@pytest.mark.parametrize(
    "spec", [s for _, s in RECOMPUTE_KILLS], ids=[n for n, _ in RECOMPUTE_KILLS]
)
def test_killed_recompute_under_other_config_then_rerun_equals_clean(tmp_path, clean_a, spec):
    root = tmp_path / "data"
    shutil.copytree(clean_a, root)  # a finished dataset of config A (mtimes kept)
    _killed_run(root, spec, "toy.scale=3.0")
    reports = run_pipeline(compose("config_sims", _overrides(root)))
    assert reports["toy_write"].ran > 0  # A's files that B replaced are recomputed
    _assert_equal_to_clean(root, clean_a)


def test_temporaries_of_a_killed_run_are_removed_by_the_next(tmp_path):
    root = tmp_path / "data"
    _killed_run(root, {"match": "map.fits", "nth": 2, "phase": "written"})
    assert _temporaries(root)  # the killed run left its temporary file
    stray = root / DATASET / "Toy" / "Train" / f".x.tmp-{os.getpid()}-0000abcd.npy"
    stray.write_bytes(b"partial")
    run_pipeline(compose("config_sims", _overrides(root, "pipeline.only=[toy_write]")))
    assert not _temporaries(root)
