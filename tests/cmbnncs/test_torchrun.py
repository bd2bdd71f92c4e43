"""``torchrun --nproc_per_node=2 main_cmbnncs.py``: two CPU ranks train as one process does, for
the temperature network alone and for the I, Q, U networks trained in turn."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from cmbml.core import run_pipeline
from tests.cmbnncs.tiny import IQU, SPLITS, make_cfg, overrides, write_sims

REPO = Path(__file__).resolve().parents[2]
TRAIN = ("pipeline.only=[cmbnncs_train]",)


@pytest.mark.slow
@pytest.mark.parametrize("map_fields", ["I", "IQU"])
def test_torchrun_two_ranks_equal_one_process(tmp_path, map_fields):
    assert SPLITS["Train"] % 2 == 0  # so that the 2 ranks split every batch evenly
    one, two = tmp_path / "one", tmp_path / "two"
    scenario = IQU if map_fields == "IQU" else ()
    train = (*scenario, *TRAIN)
    cfg = make_cfg(one, *scenario, "pipeline.only=[cmbnncs_scale,cmbnncs_preprocess]")
    write_sims(cfg, map_fields)
    run_pipeline(cfg)
    for folder in ("Simulation", "CMBNNCS"):
        shutil.copytree(one / cfg.dataset_name / folder, two / cfg.dataset_name / folder)

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "main_cmbnncs.py",
        *overrides(two, *train),
    ]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "joins the gloo process group" in proc.stderr + proc.stdout
    run_pipeline(make_cfg(one, *train))

    work_one = one / cfg.dataset_name / "CMBNNCS"
    work_two = two / cfg.dataset_name / "CMBNNCS"
    checkpoints = sorted(p.relative_to(work_one) for p in work_one.glob("Model*/*.pt"))
    assert sorted(p.relative_to(work_two) for p in work_two.glob("Model*/*.pt")) == checkpoints
    fields = [""] if map_fields == "I" else ["", "_Q", "_U"]
    assert len(checkpoints) == 3 * len(fields)  # epochs 0, 1, 2 of each field
    for field in fields:
        assert_same_training(work_one / f"Model{field}", work_two / f"Model{field}")


def assert_same_training(model_one, model_two):
    a = torch.load(model_one / "model_e0002.pt", weights_only=True)
    b = torch.load(model_two / "model_e0002.pt", weights_only=True)
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["resume_key"] == b["resume_key"]
    # The training losses (train-mode forward passes over every sample) agree to float rounding.
    # Individual weights do not: Adam's first steps move every weight by ~lr whatever the size
    # of its gradient, so weights with near-zero gradients (the convolution biases feeding a
    # BatchNorm above all) follow the rounding noise of two summation orders. test_ddp.py shows
    # exact agreement once those are frozen.
    log_one = pd.read_csv(model_one / "train_log.csv")
    log_two = pd.read_csv(model_two / "train_log.csv")
    pd.testing.assert_series_equal(log_two.train_loss, log_one.train_loss, rtol=1e-4)
    pd.testing.assert_series_equal(log_two.lr, log_one.lr, rtol=1e-12)


def test_without_a_launcher_every_stage_runs_in_one_process(monkeypatch):
    from cmbml.cmbnncs.stages.predict import CmbnncsPredict
    from cmbml.cmbnncs.stages.train import CmbnncsTrain
    from cmbml.core import distributed

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.launch_rank(), distributed.launch_world_size()) == (0, 1)
    assert CmbnncsTrain.distributed is True
    assert distributed.announce(CmbnncsTrain, True) is False  # no process group needed
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert distributed.launch_rank() == 1
    assert CmbnncsPredict.distributed is False
    assert distributed.announce(CmbnncsPredict, True) is False  # not a distributed stage
