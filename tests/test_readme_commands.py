"""Every command shown in the README and on the documentation site works.

The fast test composes each command's config exactly as its script would and passes every check
the runner makes before running (so a stage name, key or group option that does not exist fails
here). The slow test runs every command, in reading order (the README, then the site's pages in
``nav`` order), as a real subprocess at tiny size (``tests/readme_commands.py`` says how each is
shrunk), on small real-format files: Planck PR3 frequency maps (variance columns included) and
CMB maps (SMICA, NILC with its TMASK, Commander), WMAP chains, a Planck covariance and a CMBNNCS
checkpoint in CMB-ML's format.
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
import torch

from cmbml.core import check_pipeline, compose
from tests.cmbnncs.cmbml_format import CmbmlUNet, save_cmbml_checkpoint
from tests.readme_commands import REPO, adapt, readme_commands
from tests.sims.planck_files import (
    PR3_FILES,
    flat_cmb_alm,
    write_pr3_cmb_maps,
    write_pr3_frequency_maps,
    write_wmap_chains,
)
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


def _composed(command: str, places: dict[str, str]):
    """The config and task ``command`` runs at tiny size, composed as its script would."""
    words = adapt(command, places)
    script = next(i for i, w in enumerate(words) if w.endswith(".py"))
    config, task = _script_config(words[script])
    overrides = words[script + 1 :]
    if "--config-name" in overrides:  # Hydra's option: another primary config, same script
        at = overrides.index("--config-name")
        config = overrides[at + 1]
        overrides = overrides[:at] + overrides[at + 2 :]
    return compose(config, overrides), task


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_readme_command_composes_and_passes_every_check(command, tmp_path):
    places = {
        "root": str(tmp_path / "data"),
        "assets": str(tmp_path / "assets"),
        "scratch": str(tmp_path / "scratch"),
        "scheduler": "tcp://127.0.0.1:1",
    }
    names, _ = check_pipeline(*_composed(command, places))
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
    """Planck PR3 frequency maps (a CMB sky, 10 uK of white noise and its variance columns) and
    the SMICA, NILC (its TMASK: |b| > 20 deg) and Commander CMB maps, small and in the real
    format, where the configs look for them."""
    nside = 64
    alm = flat_cmb_alm(3 * nside - 1, seed=7)
    assert dict(cfg.model.sim.noise.files) == PR3_FILES
    assert {band: o.file for band, o in cfg.model.sim.observations.bands.items()} == PR3_FILES
    write_pr3_frequency_maps(folder, alm, PR3_FILES, nside, noise_uk=10.0)
    _, b = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)
    extra_rms = {"SMICA": 0.0, "NILC": 0.0, "Commander": 20.0}  # uK, on top of the CMB
    write_pr3_cmb_maps(folder, alm, (np.abs(b) > 20).astype(float), extra_rms)
    wanted = [Path(str(cfg.model.sim.mask.file)).name]
    wanted += [ref.file for ref in cfg.model.analysis.references.maps.values()]
    assert all((folder / name).exists() for name in wanted), wanted


def _cmbml_checkpoint(places: dict[str, str]) -> None:
    """A CMBNNCS checkpoint in CMB-ML's format (cmbNNCS's module tree, tests/cmbnncs/
    cmbml_format.py) where ``main_cmbnncs_cmbml.py`` looks for CMB-ML's, for the network,
    detectors and epoch of its command at tiny size."""
    command = next(c for c in COMMANDS if "main_cmbnncs_cmbml.py" in c)
    cfg, _ = _composed(command, places)
    settings = cfg.model.cmbnncs
    torch.manual_seed(0)
    net = CmbmlUNet(settings.network.channels, settings.network.kernels, len(settings.detectors))
    path = Path(settings.cmbml_checkpoint)
    path.parent.mkdir(parents=True)
    save_cmbml_checkpoint(net.eval(), path, epoch=int(settings.num_epochs))


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
    _cmbml_checkpoint(places)
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
