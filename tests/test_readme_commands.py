"""Every command shown in the README and on the documentation site works.

The fast test composes each command's config exactly as its script would and passes every check
the runner makes before running (so a stage name, key or group option that does not exist fails
here). The slow test runs every command, in reading order (the README, then the site's pages in
``nav`` order), as a real subprocess at tiny size (``tests/readme_commands.py`` says how each is
shrunk), on small real-format Planck, NILC, WMAP and Planck-covariance files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import healpy as hp
import numpy as np
import pandas as pd
import pytest

from cmbml.core import check_pipeline, compose
from tests.readme_commands import REPO, adapt, readme_commands
from tests.sims.planck_files import write_planck_bintable, write_wmap_chains
from tests.sims.test_cosmology import write_covmat

SOURCES_COMMANDS = readme_commands()
COMMANDS = [command for _, command in SOURCES_COMMANDS]
IDS = [f"{i:02d} {source}: {c[:60]}" for i, (source, c) in enumerate(SOURCES_COMMANDS)]


def _script_config(script: str) -> tuple[str, str | None]:
    """The primary config and task a ``main_*.py`` script runs (read from its source)."""
    source = (REPO / Path(script).name).read_text()
    config = re.search(r'config_name="(\w+)"', source).group(1)
    task = re.search(r'run_pipeline\(cfg(?:, task="(\w+)")?\)', source).group(1)
    return config, task


def test_readme_and_site_have_the_commands():
    sources = {source for source, _ in SOURCES_COMMANDS}
    assert {"README.md", "docs/tasks.md", "docs/configuration.md"} <= sources
    assert len(COMMANDS) >= 40
    assert any("main_sims.py" in c for c in COMMANDS)
    assert any(c.startswith("torchrun") for c in COMMANDS)


def test_commands_are_found_in_every_shell_block_form(tmp_path):
    """Indented fences (inside a list item), fence attributes, prompts and continuation lines
    are read; other languages and non-pipeline commands are not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "mkdocs.yml").write_text("nav:\n  - Home: index.md\n  - Part: [b.md]\n")
    (tmp_path / "README.md").write_text(
        "```bash\npython main_sims.py a=1  # note\npip install x\n```\n"
        "```python\npython main_sims.py not=shell\n```\n"
    )
    (tmp_path / "docs" / "index.md").write_text(
        '- item:\n\n    ```bash title="t"\n    python main_all.py \\\n        b=2\n    ```\n'
    )
    (tmp_path / "docs" / "b.md").write_text("```console\n$ torchrun main_cmbnncs.py c=3\n```\n")
    (tmp_path / "docs" / "zz.md").write_text("```sh\npython main_pyilc_predict.py\n```\n")
    assert readme_commands(tmp_path) == [
        ("README.md", "python main_sims.py a=1"),
        ("docs/index.md", "python main_all.py b=2"),
        ("docs/b.md", "torchrun main_cmbnncs.py c=3"),
        ("docs/zz.md", "python main_pyilc_predict.py"),
    ]


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_readme_command_composes_and_passes_every_check(command, tmp_path):
    places = {
        "root": str(tmp_path / "data"),
        "assets": str(tmp_path / "assets"),
        "scratch": str(tmp_path / "scratch"),
        "scheduler": "tcp://127.0.0.1:1",
    }
    words = adapt(command, places)
    script = next(i for i, w in enumerate(words) if w.endswith(".py"))
    config, task = _script_config(words[script])
    overrides = words[script + 1 :]
    if "--config-name" in overrides:  # Hydra's option: another primary config, same script
        at = overrides.index("--config-name")
        config = overrides[at + 1]
        overrides = overrides[:at] + overrides[at + 2 :]
    names, _ = check_pipeline(compose(config, overrides), task)
    assert names


# -- running them all ------------------------------------------------------------------------
FAKE_SBATCH = """#!/bin/sh
# Stand-in for SLURM on one machine: run (a copy of) the job script in the background and
# report its pid as the job id. The submitter deletes the script once sbatch returns.
job="$(dirname "$0")/job-$$.sh"
cp "$1" "$job"
nohup sh "$job" > "$job.log" 2>&1 &
echo "Submitted batch job $!"
"""
FAKE_SCANCEL = """#!/bin/sh
for job in "$@"; do pkill -P "$job" 2>/dev/null; kill "$job" 2>/dev/null; done
exit 0
"""


def _planck_assets(folder: Path, cfg) -> None:
    """Small Planck frequency maps (variance columns) and the NILC map (TMASK), real format."""
    folder.mkdir(parents=True)
    nside = 64
    npix = 12 * nside**2
    _, b = hp.pix2ang(nside, np.arange(npix), lonlat=True)
    for band, name in cfg.model.sim.noise.files.items():
        hfi_submm = int(band) in (545, 857)
        unit = "MJy/sr" if hfi_submm else "K_CMB"
        var = 1e-4 if hfi_submm else 1e-10
        columns = {"I_STOKES": np.zeros(npix), "II_COV": np.full(npix, var)}
        units = {"I_STOKES": unit, "II_COV": f"{unit}^2" if unit == "K_CMB" else "(MJy/sr)^2"}
        if not hfi_submm:
            columns |= {"QQ_COV": np.full(npix, 2 * var), "UU_COV": np.full(npix, 2 * var)}
            units |= {"QQ_COV": "K_CMB^2", "UU_COV": "K_CMB^2"}
        write_planck_bintable(folder / name, columns, units)
    tmask = (np.abs(b) > 20).astype(float)
    nilc = Path(str(cfg.model.sim.mask.file)).name
    write_planck_bintable(folder / nilc, {"I_STOKES": 0 * tmask, "TMASK": tmask}, {})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Assets (shipped tables + small real-format files), a dask scheduler, fake SLURM."""
    from distributed import LocalCluster

    base = tmp_path_factory.mktemp("readme")
    assets = base / "assets"
    for part in ("instrument", "cosmology"):
        shutil.copytree(REPO / "assets" / part, assets / part)
    cfg = compose("config_sims", ["model/sim/noise=planck_variance", "model/sim/mask=planck"])
    _planck_assets(assets / "planck", cfg)
    (assets / "wmap9_chains").mkdir()
    write_wmap_chains(assets / "wmap9_chains" / "lcdm_mnu", 200, np.random.default_rng(1))
    params = pd.read_csv(REPO / "assets" / "cosmology" / "planck2018_lcdm.csv")
    names = ["omegabh2", "omegach2", "theta", "tau", "logA", "ns"]
    write_covmat(
        base / "base_plikHM_TTTEEE_lowl_lowE_lensing.covmat",
        names,
        np.diag([0.00015, 0.0012, 0.00031, 0.0073, 0.014, 0.0042]) ** 2,
    )
    assert len(params) > 0
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for name, body in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL), ("squeue", "exit 0\n")):
        (bin_dir / name).write_text(body if body.startswith("#!") else "#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
    }
    places = {
        "root": str(base / "data"),
        "assets": str(assets),
        "scratch": str(base / "scratch"),
        "scheduler": cluster.scheduler_address,
    }
    yield base, env, places
    cluster.close()


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_readme_command_runs(command, world):
    cwd, env, places = world
    proc = subprocess.run(
        adapt(command, places), cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
