"""Run everything on one dataset: simulation, CNILC, CMBNNCS, their analyses and the comparison.

Usage: ``python main_all.py [key=value ...]`` (Hydra overrides; see README.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_all")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
