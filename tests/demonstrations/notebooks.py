"""Running a tutorial notebook of demonstrations/ in a real Jupyter kernel (this interpreter's
ipykernel), as a user opens it, with the checks every notebook must pass; importing the example
modules the notebooks use."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nbformat
from nbclient import NotebookClient

from cmbml.core.config import REPO_ROOT

DEMO = REPO_ROOT / "demonstrations"


def demo_module(name: str) -> ModuleType:
    """The module ``demonstrations/<name>.py``, imported from its file (it is not part of the
    cmbml package)."""
    spec = importlib.util.spec_from_file_location(name, DEMO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def listing(folder: Path) -> set[str]:
    """Files under ``folder``, ignoring byte-code and notebook checkpoints."""
    skip = {"__pycache__", ".ipynb_checkpoints"}
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(folder).parts)
    }


def run_notebook(
    path: Path, tmp_path: Path, before_last: Callable[[], None] | None = None
) -> nbformat.NotebookNode:
    """Execute notebook ``path`` top to bottom in a fresh ``python3`` kernel started in
    demonstrations/, its temporary folders (``tempfile``, also its subprocesses') under
    ``tmp_path``; return the executed notebook.

    ``before_last`` is called before the last cell runs (the one that removes the notebook's
    temporary folder), to look at what the notebook wrote. Asserts that the kernel ran this
    interpreter, that no cell raised, that nothing was written into demonstrations/ and that
    no ``cmbml_demo_*`` folder is left in ``tmp_path``.
    """
    nb = nbformat.read(path, as_version=4)
    # first, a cell reporting which Python the kernel runs: it must be this one (the venv's)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    before = listing(DEMO)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(DEMO)}},  # run where a user opens it
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "MPLBACKEND": "Agg"}
    client.reset_execution_trackers()
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            if index == len(nb.cells) - 1 and before_last is not None:
                before_last()
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)

    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "ename" in o]
    assert not errors
    assert listing(DEMO) == before, "the notebook wrote into demonstrations/"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("cmbml_demo_")]
    assert not leftovers, f"the notebook left its temporary folder(s) {leftovers}"
    return nb
