"""The runner end to end on the toy stages: backends, resume, recompute, narrowing."""

import filecmp
from pathlib import Path

import numpy as np
import pytest

from cmbml.core import run_pipeline


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("Toy/**/*")) if p.is_file()}


def _identical(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys() and len(fa) == 15  # 7 sims x 2 files + summary
    for key in fa:
        assert filecmp.cmp(fa[key], fb[key], shallow=False), key


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_backends_give_byte_identical_outputs(toy_cfg, tmp_path, backend):
    serial_root, other_root = tmp_path / "serial", tmp_path / backend
    run_pipeline(toy_cfg(root=serial_root))
    reports = run_pipeline(toy_cfg(f"parallel={backend}", root=other_root))
    assert reports["toy_write"].ran == 7 and reports["toy_read"].ran == 7
    _identical(serial_root, other_root)


def test_kill_and_resume_computes_only_missing(toy_cfg, tmp_path):
    root = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="toy failure at Train/2"):
        run_pipeline(toy_cfg("+toy_fail_at=Train/2", root=root))
    written = sorted(p.name for p in (root / "CMB_ML_64_demo" / "Toy").rglob("*"))
    assert written.count("a.npy") == 2  # Train 0 and 1 only
    assert not [n for n in written if ".tmp-" in n]  # no partial file left

    reports = run_pipeline(toy_cfg(root=root))
    assert (reports["toy_write"].ran, reports["toy_write"].skipped) == (5, 2)
    assert reports["toy_read"].ran == 7

    run_pipeline(toy_cfg(root=tmp_path / "straight"))
    _identical(root, tmp_path / "straight")

    again = run_pipeline(toy_cfg(root=root))
    assert all(r.ran == 0 for r in again.values())


def test_changed_config_recomputes_stage_and_downstream(toy_cfg, tmp_path):
    run_pipeline(toy_cfg())
    before = np.load(next((tmp_path / "data").rglob("Train/sim0000/b.npy")))
    reports = run_pipeline(toy_cfg("toy.scale=3.0"))
    assert reports["toy_write"].ran == 7 and reports["toy_read"].ran == 7
    after = np.load(next((tmp_path / "data").rglob("Train/sim0000/b.npy")))
    np.testing.assert_allclose(after, 2.0 * before)


def test_deleted_output_is_recomputed_and_force_recomputes_all(toy_cfg, tmp_path):
    run_pipeline(toy_cfg())
    next((tmp_path / "data").rglob("Test/sim0001/a.npy")).unlink()
    reports = run_pipeline(toy_cfg())
    assert reports["toy_write"].ran == 1 and reports["toy_read"].ran == 0
    forced = run_pipeline(toy_cfg("pipeline.force=true"))
    assert forced["toy_write"].ran == 7 and forced["toy_summary"].ran == 1


def test_only_and_from_stage_narrow_the_run(toy_cfg):
    assert list(run_pipeline(toy_cfg("pipeline.only=[toy_write]"))) == ["toy_write"]
    assert list(run_pipeline(toy_cfg("pipeline.from_stage=toy_read"))) == [
        "toy_read",
        "toy_summary",
    ]


def test_run_writes_log_and_config(toy_cfg, tmp_path):
    run_pipeline(toy_cfg())
    logs = list((tmp_path / "data" / "CMB_ML_64_demo" / "Logs").iterdir())
    assert len(logs) == 1
    assert "stage toy_write: 7 to compute" in (logs[0] / "run.log").read_text()
    assert "toy_write" in (logs[0] / "config.yaml").read_text()


def test_infer_cap_limits_inference_units(toy_cfg):
    from cmbml.core import build_stages

    cfg = toy_cfg("+splits.Test.n_infer_cap=1", "+stages.toy_read.infer=true")
    stages = build_stages(cfg, ["toy_write", "toy_read"])
    assert len(list(stages["toy_write"].units())) == 7
    assert list(stages["toy_read"].units()) == [
        ("Train", 0),
        ("Train", 1),
        ("Train", 2),
        ("Train", 3),
        ("Valid", 0),
        ("Test", 0),
    ]
