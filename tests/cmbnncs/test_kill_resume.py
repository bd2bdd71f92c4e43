"""A training process killed with SIGKILL resumes on rerun and ends as the uninterrupted run.

With I, Q, U the stage trains one network per field in turn; the kill comes while the Q network
trains, after the I network has finished: the rerun keeps every I checkpoint and the Q ones
written before the kill, and ends with the uninterrupted run's three networks.
"""

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
from tests.cmbnncs.tiny import IQU, make_cfg, overrides, write_sims

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
@pytest.mark.parametrize("map_fields", ["I", "IQU"])
def test_sigkill_mid_training_then_rerun_equals_uninterrupted(tmp_path, map_fields):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    scenario = IQU if map_fields == "IQU" else ()
    fields = [""] if map_fields == "I" else ["", "_Q", "_U"]
    train = (*scenario, *TRAIN)
    cfg = make_cfg(killed, *scenario, "pipeline.only=[cmbnncs_scale,cmbnncs_preprocess]")
    write_sims(cfg, map_fields)
    run_pipeline(cfg)
    for folder in ("Simulation", "CMBNNCS"):
        shutil.copytree(killed / cfg.dataset_name / folder, reference / cfg.dataset_name / folder)
    work = killed / cfg.dataset_name / "CMBNNCS"
    model = work / ("Model" if map_fields == "I" else "Model_Q")  # killed while this one trains

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    command = [sys.executable, "main_cmbnncs.py", *overrides(killed, *train)]
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
    kept = {p.relative_to(work): p.stat().st_mtime_ns for p in work.glob("Model*/model_e*.pt")}
    assert (model / "model_e0003.pt").relative_to(work) in kept
    if map_fields == "IQU":  # the I network had finished, the U one had not started
        assert (work / "Model" / f"model_e{EPOCHS:04d}.pt").relative_to(work) in kept
        assert not (work / "Model_U").exists()

    run_pipeline(make_cfg(killed, *train))  # the rerun, in this process (1 thread)
    run_pipeline(make_cfg(reference, *train))  # uninterrupted

    # the rerun resumed: no checkpoint written before the kill was rewritten
    assert {name: (work / name).stat().st_mtime_ns for name in kept} == kept
    for field in fields:
        ref_model = reference / cfg.dataset_name / "CMBNNCS" / f"Model{field}"
        model = work / f"Model{field}"
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
