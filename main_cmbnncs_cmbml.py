"""Predict the Test split with CMB-ML's published CMBNNCS checkpoint (no training) and analyse it.

Usage: ``python main_cmbnncs_cmbml.py [key=value ...]`` (Hydra overrides; see
docs/cmbml-compat.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_cmbnncs_cmbml")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
