"""A training process killed with SIGKILL resumes on rerun and ends as the uninterrupted run."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from cmbml.core import run_pipeline
from tests.cmbnncs.tiny import make_cfg, overrides, write_sims

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 8
TRAIN = ("pipeline.only=[cmbnncs_train]", f"model.cmbnncs.num_epochs={EPOCHS}")


def wait_for(path, process, timeout_s=300):
    start = time.monotonic()
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"training ended (rc {process.returncode}) before {path}")
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{path} did not appear in {timeout_s} s")
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_mid_training_then_rerun_equals_uninterrupted(tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    cfg = make_cfg(killed, "pipeline.only=[cmbnncs_scale,cmbnncs_preprocess]")
    write_sims(cfg)
    run_pipeline(cfg)
    for folder in ("Simulation", "CMBNNCS"):
        shutil.copytree(killed / cfg.dataset_name / folder, reference / cfg.dataset_name / folder)
    model = killed / cfg.dataset_name / "CMBNNCS" / "Model"

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    command = [sys.executable, "main_cmbnncs.py", *overrides(killed, *TRAIN)]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for(model / "model_e0003.pt", process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert not (model / f"model_e{EPOCHS:04d}.pt").exists(), "killed too late"
    kept = {p.name: p.stat().st_mtime_ns for p in model.glob("model_e*.pt")}
    assert "model_e0003.pt" in kept

    run_pipeline(make_cfg(killed, *TRAIN))  # the rerun, in this process (1 thread)
    run_pipeline(make_cfg(reference, *TRAIN))  # uninterrupted

    # the rerun resumed: no checkpoint written before the kill was rewritten
    assert {name: (model / name).stat().st_mtime_ns for name in kept} == kept
    ref_model = reference / cfg.dataset_name / "CMBNNCS" / "Model"
    for epoch in range(EPOCHS + 1):
        a = torch.load(ref_model / f"model_e{epoch:04d}.pt", weights_only=True)
        b = torch.load(model / f"model_e{epoch:04d}.pt", weights_only=True)
        assert a["epoch"] == b["epoch"] == epoch and a["resume_key"] == b["resume_key"]
        for name, value in a["model"].items():
            torch.testing.assert_close(b["model"][name], value, rtol=1e-6, atol=1e-7, msg=name)
        assert b["scheduler"]["last_epoch"] == a["scheduler"]["last_epoch"]
        assert b["optimizer"]["param_groups"] == a["optimizer"]["param_groups"]
    pd.testing.assert_frame_equal(
        pd.read_csv(model / "train_log.csv"), pd.read_csv(ref_model / "train_log.csv")
    )
