"""The code version recorded with results: package version, and git describe in a checkout."""

import shutil
import subprocess
import sys
from pathlib import Path

import cmbml
from cmbml.core.version import code_version

REPO = Path(__file__).resolve().parents[2]


def test_checkout_version_names_the_commit():
    if not (REPO / ".git").exists():
        assert code_version() == f"cmbml {cmbml.__version__}"
        return
    described = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--tags"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert code_version() == f"cmbml {cmbml.__version__} (git {described})"


def test_source_outside_git_gives_the_package_version(tmp_path):
    shutil.copytree(REPO / "cmbml", tmp_path / "cmbml")
    code = "from cmbml.core.version import code_version; print(code_version())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    assert out == f"cmbml {cmbml.__version__}"
