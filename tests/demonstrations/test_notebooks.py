"""The tutorial notebooks of demonstrations/: each runs top to bottom in a real Jupyter kernel
(this interpreter's ipykernel) without error, writes only to its temporary folder (removed at
its end), and is committed without outputs."""

import nbformat
import pytest

from tests.demonstrations.notebooks import DEMO, run_notebook

NOTEBOOKS = sorted(DEMO.glob("*.ipynb"))
EXPECTED = [
    "A_hydra_in_cmbml",
    "B_hydra_in_scripts",
    "C_local_paths_and_real_data",
    "D_simulation_instances",
    "E_adding_a_method",
    "F_adding_a_network_method",
]
#: Notebooks run by a test of their own, which also checks what they computed (same checks).
RUN_ELSEWHERE = {"F_adding_a_network_method": "test_network_method_notebook.py"}


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


@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if p.stem not in RUN_ELSEWHERE], ids=lambda p: p.stem
)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    run_notebook(path, tmp_path)


def test_notebooks_run_elsewhere_have_their_test():
    for name, test in RUN_ELSEWHERE.items():
        assert (DEMO / f"{name}.ipynb").exists()
        assert name in (DEMO.parent / "tests" / "demonstrations" / test).read_text()
