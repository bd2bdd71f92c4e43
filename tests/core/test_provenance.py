"""Provenance on the toy stages: moved and copied datasets, corrupted outputs, the dataset lock,
workers that die with their run, SLURM jobs that never start, config and read-only errors."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cmbml.core import ConfigError, compose, run_pipeline
from cmbml.core.errors import CmbmlError
from cmbml.core.lock import DatasetLockedError
from tests.core.conftest import ALL_TOY_STAGES, TOY
from tests.core.crash_run import REPO, command

DATASET = "CMB_ML_64_demo"


def _cfg(root: Path, *extra: str):
    return compose(
        "config_sims", [*TOY, ALL_TOY_STAGES, f"local_system.datasets_root={root}", *extra]
    )


def _ran(reports) -> dict[str, int]:
    return {name: r.ran for name, r in reports.items()}


def _subprocess(root: Path, *extra: str) -> subprocess.Popen:
    """A plain run of the toy pipeline in another process (tests.core.crash_run, no kill)."""
    payload = {
        "config": "config_sims",
        "overrides": [*TOY, ALL_TOY_STAGES, f"local_system.datasets_root={root}", *extra],
        "nth": 0,
    }
    return subprocess.Popen(
        command(payload),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# -- a moved or copied dataset is still up to date ---------------------------------------------
def test_moved_dataset_is_up_to_date(tmp_path):
    run_pipeline(_cfg(tmp_path / "a"))
    (tmp_path / "a").rename(tmp_path / "b")
    assert set(_ran(run_pipeline(_cfg(tmp_path / "b"))).values()) == {0}


def test_copied_dataset_without_mtimes_is_up_to_date_and_checked_by_stat_next(tmp_path):
    run_pipeline(_cfg(tmp_path / "a"))
    subprocess.run(["cp", "-r", str(tmp_path / "a"), str(tmp_path / "b")], check=True)
    shutil.rmtree(tmp_path / "a")  # nothing may refer to the old location
    assert set(_ran(run_pipeline(_cfg(tmp_path / "b"))).values()) == {0}
    # the content was re-hashed once and the new mtimes recorded: the manifests match stat()
    folder = tmp_path / "b" / DATASET
    for manifest in (folder / "Manifests").rglob("*.json"):
        for name, fp in json.loads(manifest.read_text())["outputs"].items():
            assert name.startswith("@dataset/")
            path = folder / name.removeprefix("@dataset/")
            assert os.stat(path).st_mtime_ns == fp["mtime_ns"]


# -- a truncated or corrupted output is noticed ------------------------------------------------
def _a_file(root: Path, split: str = "Train", sim: int = 1) -> Path:
    return root / DATASET / "Toy" / split / f"sim{sim:04d}" / "a.npy"


def test_truncated_output_is_recomputed_alone(tmp_path):
    root = tmp_path / "data"
    run_pipeline(_cfg(root))
    good = _a_file(root).read_bytes()
    _a_file(root).write_bytes(good[:100])
    ran = _ran(run_pipeline(_cfg(root)))
    assert ran["toy_write"] == 1
    assert ran["toy_read"] == 0 and ran["toy_report"] == 0  # same content again: nothing more
    assert _a_file(root).read_bytes() == good


def test_same_size_corruption_found_by_digest_or_by_verify(tmp_path):
    root = tmp_path / "data"
    run_pipeline(_cfg(root))
    path = _a_file(root)
    good = path.read_bytes()
    stat = os.stat(path)
    flipped = bytearray(good)
    flipped[-1] ^= 0xFF
    path.write_bytes(bytes(flipped))  # new mtime: the digest is compared
    assert _ran(run_pipeline(_cfg(root)))["toy_write"] == 1
    assert path.read_bytes() == good
    stat = os.stat(path)
    path.write_bytes(bytes(flipped))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as recorded
    assert _ran(run_pipeline(_cfg(root)))["toy_write"] == 0  # a stat() cannot see it
    assert _ran(run_pipeline(_cfg(root, "pipeline.verify=true")))["toy_write"] == 1
    assert path.read_bytes() == good


# -- one run per dataset -------------------------------------------------------------------------
def test_second_run_fails_at_once_or_waits_naming_the_holder(tmp_path, caplog):
    root = tmp_path / "data"
    slow = "+toy.sleep_s=0.7"
    holder = _subprocess(root, slow)
    try:
        _wait_for(lambda: (root / DATASET / ".cmbml.lock.json").exists())
        with pytest.raises(DatasetLockedError, match=f"pid {holder.pid} on host"):
            run_pipeline(_cfg(root, slow, "pipeline.lock_wait_s=0"))
        with caplog.at_level("WARNING", logger="cmbml.core.lock"):
            reports = run_pipeline(_cfg(root, slow))  # waits for the holder, finds it all done
        assert f"in use by pid {holder.pid}" in caplog.text
        assert set(_ran(reports).values()) == {0}
    finally:
        holder.wait(timeout=120)
    assert holder.returncode == 0, holder.stderr.read()[-2000:]


# -- workers die with their run ----------------------------------------------------------------
def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_process_workers_die_with_a_killed_run(tmp_path):
    root = tmp_path / "data"
    run = _subprocess(root, "parallel=processes", "parallel.n_workers=2", "+toy.sleep_s=1.0")
    maps = lambda: list((root / DATASET / "Toy").rglob("map.fits"))  # noqa: E731
    try:
        _wait_for(lambda: len(maps()) >= 1)
        workers = _children(run.pid)
        assert workers
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        _wait_for(lambda: not any(_alive(w) for w in workers), timeout=10)
        written = len(maps())
        time.sleep(3.0)  # a surviving worker would finish another sleeping map by now
        assert len(maps()) == written < 7
    finally:
        if run.poll() is None:
            run.kill()


# -- SLURM jobs that never start ------------------------------------------------------------------
FAKE_SLURM = {
    "sbatch": 'echo "Submitted batch job 4242"\n',  # accepted, but no job will ever run
    "scancel": "exit 0\n",
    "squeue": "exit 0\n",
}


def test_slurm_gives_up_when_no_job_starts(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKE_SLURM.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    code = (
        "from cmbml.core import compose, run_pipeline\n"
        "from tests.core.conftest import TOY\n"
        f"run_pipeline(compose('config_sims', TOY + ['local_system.datasets_root={tmp_path}/d',"
        " 'parallel=slurm', 'parallel.slurm.start_timeout_s=3']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "no SLURM job started a dask worker within 3.0 s" in proc.stderr
    assert "parallel.slurm.start_timeout_s" in proc.stderr


# -- config errors before anything runs -------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("scenario.nside=abc", "scenario.nside must be an integer, got 'abc'"),
        ("splits.Train.n_sims=1.5", "splits.Train.n_sims must be an integer, got 1.5"),
        ("seed=abc", "seed must be an integer, got 'abc'"),
        ("pipeline.force=maybe", "pipeline.force must be true or false"),
        ("parallel.n_workers=0", "parallel.n_workers must be >= 1"),
        ("pipeline.lock_wait_s=-5", "pipeline.lock_wait_s must be >= 0"),
    ],
)
def test_bad_config_values_are_named_before_any_stage_runs(tmp_path, override, message):
    root = tmp_path / "data"
    with pytest.raises(ConfigError) as err:
        run_pipeline(_cfg(root, override))
    assert message in str(err.value)
    assert not root.exists()


# -- a read-only dataset -------------------------------------------------------------------------
def _set_read_only(folder: Path, on: bool) -> None:
    if os.geteuid() == 0:  # permission bits do not bind root; the immutable flag does
        subprocess.run(["chattr", "-R", "+i" if on else "-i", str(folder)], check=True)
    else:
        for path in [folder, *folder.rglob("*")]:
            mode = path.stat().st_mode
            path.chmod(mode & ~0o222 if on else mode | 0o200)


def test_read_only_dataset_is_usable_with_logs_elsewhere(tmp_path):
    root = tmp_path / "data"
    run_pipeline(_cfg(root))
    _set_read_only(root, True)
    try:
        reports = run_pipeline(_cfg(root, f"local_system.logs_root={tmp_path / 'logs'}"))
        assert set(_ran(reports).values()) == {0}
        assert list((tmp_path / "logs" / DATASET).glob("*/run.log"))
        with pytest.raises(CmbmlError, match="toy_write has 7 unit.*read-only"):
            run_pipeline(_cfg(root, "toy.scale=2.0"))
    finally:
        _set_read_only(root, False)
    assert np.load(_a_file(root)).size == 64  # nothing was touched


def test_an_unwritable_folder_of_a_writable_dataset_is_named(tmp_path):
    root = tmp_path / "data"
    run_pipeline(_cfg(root))
    folder = _a_file(root).parent
    _set_read_only(folder, True)
    try:
        with pytest.raises(PermissionError) as err:
            run_pipeline(_cfg(root, "toy.scale=2.0"))
    finally:
        _set_read_only(folder, False)
    message = str(err.value)
    assert f"cannot write in {folder}" in message and ".tmp-" not in message
    assert "a.npy" in message


# -- reads cached across units are still recorded ----------------------------------------------
def test_cached_read_is_recorded_and_follows_the_file(tmp_path):
    from cmbml.core import build_stages

    root = tmp_path / "data"
    run_pipeline(_cfg(root, "pipeline.only=[toy_write]"))
    stage = build_stages(_cfg(root), ["toy_read"])["toy_read"]
    first = stage.read("toy_a", split="Test", sim=0, cached=True)
    stage.read_paths = {}
    again = stage.read("toy_a", split="Test", sim=0, cached=True)
    assert again is first and not again.flags.writeable
    assert list(stage.read_paths) == [_a_file(root, "Test", 0)]  # a cache hit is still a read
    np.save(_a_file(root, "Test", 0), np.arange(3.0))
    np.testing.assert_array_equal(stage.read("toy_a", split="Test", sim=0, cached=True), [0, 1, 2])
