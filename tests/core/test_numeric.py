"""Every unit of work starts from the same numeric state, whatever ran before it in the process:
thread count, global random generators, torch's default dtype and backend flags."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cmbml.core import run_pipeline
from cmbml.core.numeric import default_threads, numeric_state

NUMERICS = [
    "+stages.toy_numerics._target_=tests.core.toy_stages.ToyNumerics",
    "+catalog.toy_numerics.path='{root}/{dataset}/Toy/numerics.json'",
    "+catalog.toy_numerics.handler=json",
    "pipeline.stages=[toy_numerics]",
    "pipeline.force=true",
]


def _pollute() -> None:
    """What other stages and libraries leave behind in a process (CAMB's OpenMP thread count,
    seeded global generators, a changed default dtype, benchmark mode)."""
    torch.set_num_threads(1 if default_threads() > 1 else 2)
    np.random.seed(7)
    random.seed(7)
    torch.manual_seed(7)
    torch.set_default_dtype(torch.float64)
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("medium")


def _record(root: Path) -> dict:
    return json.loads(next(root.rglob("numerics.json")).read_text())


@pytest.fixture
def restore_torch():
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    benchmark, precision = torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    torch.backends.cudnn.benchmark = benchmark
    torch.set_float32_matmul_precision(precision)


def test_a_unit_sees_the_state_of_a_fresh_process_whatever_ran_before(
    toy_cfg, tmp_path, restore_torch
):
    fresh = tmp_path / "fresh"
    code = (
        "import sys; from cmbml.core import compose, run_pipeline; "
        "from tests.core.conftest import TOY; from tests.core.test_numeric import NUMERICS; "
        "run_pipeline(compose('config_sims', "
        "[*TOY, *NUMERICS, f'local_system.datasets_root={sys.argv[1]}']))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code, str(fresh)], check=True, env=env, timeout=300)

    _pollute()
    run_pipeline(toy_cfg(*NUMERICS, root=tmp_path / "after"))
    assert _record(tmp_path / "after") == _record(fresh)
    assert _record(fresh)["torch_threads"] == default_threads()
    assert _record(fresh)["default_dtype"] == "torch.float32"


def test_the_state_of_the_caller_is_restored_after_the_block(restore_torch):
    _pollute()
    threads, draw = torch.get_num_threads(), np.random.get_state()[1].copy()
    with numeric_state(3):
        assert torch.get_num_threads() == default_threads()
        assert torch.get_default_dtype() == torch.float32
        inside = np.random.random()
        torch.set_num_threads(threads + 1)
    with numeric_state(3):
        assert np.random.random() == inside
    assert torch.get_num_threads() == threads
    assert torch.get_default_dtype() == torch.float64
    np.testing.assert_array_equal(np.random.get_state()[1], draw)


def test_a_unit_after_camb_gets_the_default_thread_count_back(restore_torch):
    """CAMB sets OpenMP's thread count (camb.config.ThreadNum), which torch shares: in a fresh
    process a CAMB call with one thread leaves torch on one thread (CAMB skips the call when its
    own count is unchanged, so the leak is forced here as well). A unit runs on the default
    count whatever was left, and the caller's count is restored after it."""
    from cmbml.sims.cmb import lensed_cls

    lensed_cls({"H0": 67.0, "ombh2": 0.022, "omch2": 0.12}, 64, accuracy="temperature", threads=1)
    leaked = 1 if default_threads() > 1 else 2
    torch.set_num_threads(leaked)
    with numeric_state(0):
        assert torch.get_num_threads() == default_threads()
    assert torch.get_num_threads() == leaked


def test_cmbml_nthreads_sets_the_thread_count(monkeypatch):
    monkeypatch.setenv("CMBML_NTHREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("CMBML_NTHREADS", "many")
    with pytest.raises(ValueError, match="CMBML_NTHREADS"):
        default_threads()
