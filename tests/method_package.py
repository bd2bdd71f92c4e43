"""The example method package of docs/adding-a-method.md, and a throw-away environment to
install it.

The method (``onechannel``) predicts the CMB as one observed channel at the common beam: crude,
but a real method for the pipeline (a stage, a catalog entry, a config group, the shared analysis
stages and a leaderboard row), declared through the ``cmbml.methods`` entry point. The files are
the page's titled code blocks, so the page and the tests cannot drift apart.
"""

from __future__ import annotations

import re
import site
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-method.md"
#: A fenced block of the page whose title names a file of the example project.
BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.M | re.S)


def write_method_package(folder: Path) -> Path:
    """Write the example project of docs/adding-a-method.md (``cmbml-onechannel``: method
    ``onechannel``, package ``cmbml_onechannel``) under ``folder``; return the project folder."""
    blocks = BLOCK.findall(DOC.read_text())
    assert blocks, f"no titled code blocks in {DOC}"
    for title, text in blocks:
        path = folder / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder / "cmbml-onechannel"


def layered_venv(folder: Path) -> Path:
    """A virtual environment at ``folder`` that also sees this interpreter's packages (what
    ``--system-site-packages`` gives a venv made from a system Python); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in parents]
    (Path(own) / "parent_environment.pth").write_text("\n".join(lines) + "\n")
    return python


def pip_install(python: Path, project: Path, *options: str) -> None:
    """``pip install --no-deps --no-build-isolation [options] project`` with ``python`` (into
    its environment, or where ``options`` say: ``--target folder``)."""
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q"]
        + ["--disable-pip-version-check", "--no-index", *options, str(project)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
