import pytest

from cmbml.core import compose

TOY = [
    "+stages.toy_write._target_=tests.core.toy_stages.ToyWrite",
    "+stages.toy_read._target_=tests.core.toy_stages.ToyRead",
    "+stages.toy_summary._target_=tests.core.toy_stages.ToySummary",
    "+catalog.toy_a.path='{root}/{dataset}/Toy/{split}/sim{sim:04d}/a.npy'",
    "+catalog.toy_a.handler=numpy",
    "+catalog.toy_b.path='{root}/{dataset}/Toy/{split}/sim{sim:04d}/b.npy'",
    "+catalog.toy_b.handler=numpy",
    "+catalog.toy_summary.path='{root}/{dataset}/Toy/summary.yaml'",
    "+catalog.toy_summary.handler=yaml",
    "+toy.scale=1.5",
    "pipeline.stages=[toy_write,toy_read,toy_summary]",
    "splits.Train.n_sims=4",
    "splits.Valid.n_sims=1",
    "splits.Test.n_sims=2",
]


@pytest.fixture
def toy_cfg(tmp_path):
    """Compose config_sims with the toy stages, writing under tmp_path."""

    def make(*overrides, root=None):
        root = root or tmp_path / "data"
        return compose("config_sims", [*TOY, f"local_system.datasets_root={root}", *overrides])

    return make
