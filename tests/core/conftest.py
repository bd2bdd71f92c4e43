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
    "+stages.toy_map._target_=tests.core.toy_stages.ToyMap",
    "+stages.toy_report._target_=tests.core.toy_stages.ToyReport",
    "+catalog.toy_map.path='{root}/{dataset}/Toy/{split}/sim{sim:04d}/map.fits'",
    "+catalog.toy_map.handler=healpix_map",
    "+catalog.toy_table.path='{root}/{dataset}/Toy/report.csv'",
    "+catalog.toy_table.handler=csv",
    "+catalog.toy_figure.path='{root}/{dataset}/Toy/report.png'",
    "+catalog.toy_figure.handler=figure",
    "+catalog.toy_figure.options.also=[pdf]",
    "+toy.scale=1.5",
    "pipeline.stages=[toy_write,toy_read,toy_summary]",
    "splits.Train.n_sims=4",
    "splits.Valid.n_sims=1",
    "splits.Test.n_sims=2",
]


#: Every toy stage: .npy, FITS, CSV, YAML, PNG and PDF outputs.
ALL_TOY_STAGES = "pipeline.stages=[toy_write,toy_read,toy_summary,toy_map,toy_report]"


@pytest.fixture
def toy_cfg(tmp_path):
    """Compose config_sims with the toy stages, writing under tmp_path."""

    def make(*overrides, root=None):
        root = root or tmp_path / "data"
        return compose("config_sims", [*TOY, f"local_system.datasets_root={root}", *overrides])

    return make
