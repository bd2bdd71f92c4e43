"""The commands of the README's "Tasks" and "Configuration and overrides" sections, and how the
tests shrink them to a tiny size.

Every ``python main_*.py ...`` and ``torchrun ... main_*.py ...`` line of those sections is a
command a user may paste. The tests run each one with the same script and the same overrides,
adapted only in size and location:

- appended when the command does not set them: nside 32 (the smallest the UNet takes), 2 / 1 / 1
  simulations, one epoch, CAMB's quickest setting, a temporary datasets root and assets folder
  (holding small Planck, NILC and WMAP files in the real formats);
- values that only set a size are shrunk (``n_workers=8`` -> 2, ``num_epochs=20`` -> 2, ...);
- places that do not exist here are replaced: ``/scratch/cmb`` by a temporary folder, the dask
  scheduler at ``tcp://10.0.0.5:8786`` by one started on 127.0.0.1, SLURM by stand-in ``sbatch``
  and ``scancel`` that run the job script on this machine;
- ``model/cmbnncs=paper`` gets ``model/cmbnncs/network=unet5``: UNet8 needs nside >= 256.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("Tasks", "Configuration and overrides")

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

#: Size-only values shrunk: (pattern, replacement).
SHRINK = [
    (r"parallel\.n_workers=\d+", "parallel.n_workers=2"),
    (r"parallel\.threads_per_worker=\d+", "parallel.threads_per_worker=1"),
    (r"splits\.Train\.n_sims=\d+", "splits.Train.n_sims=2"),
    (r"\bnum_epochs=\d+", "num_epochs=2"),
    (r"model\.cmbnncs\.batch_size=\d+", "model.cmbnncs.batch_size=2"),
    (r"model\.cmbnncs\.restart_epoch=\d+", "model.cmbnncs.restart_epoch=1 num_epochs=2"),
    (r"model\.cmbnncs\.num_workers=\d+", "model.cmbnncs.num_workers=1"),
    (r"parallel\.slurm\.jobs=\d+", "parallel.slurm.jobs=1"),
    (r"parallel\.slurm\.processes=\d+", "parallel.slurm.processes=1"),
    (r"parallel\.slurm\.cores=\d+", "parallel.slurm.cores=1"),
    (r"--nproc_per_node=\d+", "--nproc_per_node=2"),
]


def readme_commands(readme: Path = REPO / "README.md") -> list[str]:
    """The commands of :data:`SECTIONS`, continuation lines joined, comments kept off."""
    sections = re.split(r"^## ", readme.read_text(), flags=re.M)
    commands = []
    for section in sections:
        if not section.startswith(SECTIONS):
            continue
        for block in re.findall(r"```bash\n(.*?)```", section, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if words and (words[0] == "torchrun" or words[:1] == ["python"]):
                    if any(w.startswith("main_") for w in words):
                        commands.append(" ".join(shlex.quote(w) for w in words))
    return commands


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
    if "model/cmbnncs=paper" in words:
        extra.append("model/cmbnncs/network=unet5")
    if "parallel=slurm" in words:
        extra += ["parallel.slurm.scheduler_options={host: 127.0.0.1}"]
        extra += ["parallel.slurm.start_timeout_s=180"]
    words[script] = str(REPO / words[script])
    return [*words, *extra]
