"""The commands shown in the README and on the documentation site, and how the tests shrink them
to a tiny size.

Every ``python main_*.py ...`` and ``torchrun ... main_*.py ...`` line of a ``bash`` block of
``README.md`` or of a page ``docs/*.md`` is a command a user may paste. They are collected in
reading order (the README, then the pages in the order of the site's ``nav``), so that a command
finds what the commands shown before it made. The tests run each one with the same script and the
same overrides, adapted only in size and location:

- appended when the command does not set them: nside 32 (the smallest the UNet takes), 2 / 1 / 1
  simulations, one epoch, CAMB's quickest setting, a temporary datasets root and assets folder
  (holding small Planck PR3, WMAP and CMB-ML checkpoint files in the real formats);
- values that only set a size are shrunk (``n_workers=8`` -> 2, ``num_epochs=20`` -> 2, ...);
- places that do not exist here are replaced: ``/scratch/cmb`` by a temporary folder, the dask
  scheduler at ``tcp://10.0.0.5:8786`` by one started on 127.0.0.1, SLURM by stand-in ``sbatch``
  and ``scancel`` that run the job script on this machine;
- ``model/cmbnncs=paper`` (and ``main_cmbnncs_cmbml.py``, whose config has it) gets
  ``model/cmbnncs/network=unet5``: UNet8 needs nside >= 256. CMB-ML's checkpoint that
  ``main_cmbnncs_cmbml.py`` imports is written by the tests in CMB-ML's format for that network;
- ``model/patchnn=paper`` gets patches of a quarter of the nside, as the paper's (128 at nside
  512): ``model.patchnn.nside_patch=8``; PatchNN keeps its demo's 3 epochs
  (``PATCHNN_TINY_EPOCHS`` says why);
- ``model/pyilc=cnilc_cmbml`` gets the preset a user gives at nside 32 (CMB-ML's presets are for
  nside 128 and 512): ``++model.pyilc.presets.32={ellpeaks:[72,96]}``, the fewest, widest
  windows whose every scale has the modes PyILC's ILC-bias rule asks of 8 channels.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

#: Appended unless the command sets the key itself.
TINY = {
    "scenario.nside": "32",
    "scenario.nside_sky": "64",
    "splits.Train.n_sims": "2",
    "splits.Valid.n_sims": "1",
    "splits.Test.n_sims": "1",
    "num_epochs": "1",
    "model.cmbnncs.batch_size": "2",
    "model.sim.cmb.camb_accuracy": "temperature",
}

#: CNILC-as-CMB-ML's needlet preset at the tiny nside (cosine windows of 1578, 5590, 2048 modes:
#: PyILC's rule needs 1418 with 8 channels and an ILC bias of 1e-3).
CNILC_CMBML_TINY = "{ellpeaks:[72,96]}"

#: PatchNN's epochs at the tiny size: its demo's 3. After 1 (3 optimiser steps at the demo's
#: learning rate 1e-2) the ReLU features before its dropout are 0 on half the Valid pixels, so
#: every Monte-Carlo sample agrees there and its sigma calibration is refused, as it should be.
PATCHNN_TINY_EPOCHS = 3

#: Scripts whose config has model/cmbnncs=paper (UNet8) without the command naming it.
PAPER_CMBNNCS = {"main_cmbnncs_cmbml.py"}

#: Size-only values shrunk: (pattern, replacement).
SHRINK = [
    (r"parallel\.n_workers=\d+", "parallel.n_workers=2"),
    (r"parallel\.threads_per_worker=\d+", "parallel.threads_per_worker=1"),
    (r"splits\.Train\.n_sims=[1-9]\d*", "splits.Train.n_sims=2"),
    (r"splits\.Test\.n_sims=[1-9]\d*", "splits.Test.n_sims=1"),
    (r"\bnum_epochs=\d+", "num_epochs=2"),
    (r"model\.cmbnncs\.batch_size=\d+", "model.cmbnncs.batch_size=2"),
    (r"model\.cmbnncs\.restart_epoch=\d+", "model.cmbnncs.restart_epoch=1 num_epochs=2"),
    (r"model\.cmbnncs\.num_workers=\d+", "model.cmbnncs.num_workers=1"),
    (r"parallel\.slurm\.jobs=\d+", "parallel.slurm.jobs=1"),
    (r"parallel\.slurm\.processes=\d+", "parallel.slurm.processes=1"),
    (r"parallel\.slurm\.cores=\d+", "parallel.slurm.cores=1"),
    (r"--nproc_per_node=\d+", "--nproc_per_node=2"),
]


#: A shell code block (its fence may be indented inside a list item and carry attributes).
FENCE = re.compile(r"^[ \t]*```(?:bash|sh|shell|console)\b[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)


def _nav_pages(nav) -> list[str]:
    """The Markdown files of a MkDocs ``nav``, in order."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return [page for item in nav for page in _nav_pages(item)]


def documentation_files(repo: Path = REPO) -> list[Path]:
    """``README.md``, then the site's pages in ``nav`` order (pages missing from it last)."""
    docs = repo / "docs"
    nav = yaml.safe_load((repo / "mkdocs.yml").read_text())["nav"]
    pages = [docs / page for page in _nav_pages(nav)]
    pages += sorted(set(docs.rglob("*.md")) - set(pages))
    return [repo / "README.md", *(page for page in pages if page.exists())]


def file_commands(path: Path) -> list[str]:
    """The ``main_*.py`` commands of the shell blocks of one Markdown file, continuation lines
    joined, comments left off."""
    commands = []
    for block in FENCE.findall(path.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.strip().removeprefix("$ "), comments=True)
            if words and (words[0] == "torchrun" or words[:1] == ["python"]):
                if any(w.startswith("main_") for w in words):
                    commands.append(" ".join(shlex.quote(w) for w in words))
    return commands


def readme_commands(repo: Path = REPO) -> list[tuple[str, str]]:
    """``(file, command)`` for every command of :func:`documentation_files`, in reading order."""
    return [
        (str(path.relative_to(repo)), command)
        for path in documentation_files(repo)
        for command in file_commands(path)
    ]


def adapt(command: str, places: dict[str, str]) -> list[str]:
    """The argument list of ``command`` at tiny size (see the module docstring).

    ``places``: ``root``, ``assets``, ``scratch``, ``scheduler`` (the values to substitute).
    """
    for pattern, replacement in SHRINK:
        command = re.sub(pattern, replacement, command)
    command = command.replace("/scratch/cmb", places["scratch"])
    command = command.replace("tcp://10.0.0.5:8786", places["scheduler"])
    words = shlex.split(command)
    script = next(i for i, w in enumerate(words) if w.startswith("main_"))
    given = {w.split("=", 1)[0].lstrip("+~") for w in words[script + 1 :] if "=" in w}
    extra = [f"{k}={v}" for k, v in TINY.items() if k not in given]
    if "local_system.datasets_root" not in given:
        extra.append(f"local_system.datasets_root={places['root']}")
    extra.append(f"local_system.assets_dir={places['assets']}")
    if "model/cmbnncs=paper" in words or words[script] in PAPER_CMBNNCS:
        extra.append("model/cmbnncs/network=unet5")
    if "model/patchnn=paper" in words and "scenario.nside" not in given:
        extra.append(f"model.patchnn.nside_patch={int(TINY['scenario.nside']) // 4}")
    if "num_epochs" not in given:
        extra.append(f"model.patchnn.num_epochs={PATCHNN_TINY_EPOCHS}")
    if "model/pyilc=cnilc_cmbml" in words and "scenario.nside" not in given:
        extra.append(f"++model.pyilc.presets.{TINY['scenario.nside']}={CNILC_CMBML_TINY}")
    if "parallel=slurm" in words:
        extra += ["parallel.slurm.scheduler_options={host: 127.0.0.1}"]
        extra += ["parallel.slurm.start_timeout_s=180"]
    words[script] = str(REPO / words[script])
    return [*words, *extra]
