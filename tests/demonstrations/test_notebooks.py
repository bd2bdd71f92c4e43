"""The tutorial notebooks of demonstrations/: each runs top to bottom in a real Jupyter kernel
(this interpreter's ipykernel) without error, writes only to its temporary folder (removed at
its end), and is committed without outputs."""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from cmbml.core.config import REPO_ROOT

DEMO = REPO_ROOT / "demonstrations"
NOTEBOOKS = sorted(DEMO.glob("*.ipynb"))
EXPECTED = [
    "A_hydra_in_cmbml",
    "B_hydra_in_scripts",
    "C_local_paths_and_real_data",
    "D_simulation_instances",
    "E_adding_a_method",
]


def _listing(folder: Path) -> set[str]:
    """Files under ``folder``, ignoring byte-code and notebook checkpoints."""
    skip = {"__pycache__", ".ipynb_checkpoints"}
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(folder).parts)
    }


def test_all_tutorials_are_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    readme = (DEMO / "README.md").read_text()
    assert all(f"{name}.ipynb" in readme for name in EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_valid_and_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # first, a cell reporting which Python the kernel runs: it must be this one (the venv's)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    before = _listing(DEMO)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(DEMO)}},  # run where a user opens it
    )
    # the notebooks' temporary folders (tempfile) go to tmp_path; so do their subprocesses'
    client.execute(env={**os.environ, "TMPDIR": str(tmp_path), "MPLBACKEND": "Agg"})

    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "ename" in o]
    assert not errors
    assert _listing(DEMO) == before, "the notebook wrote into demonstrations/"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("cmbml_demo_")]
    assert not leftovers, f"the notebook left its temporary folder(s) {leftovers}"
