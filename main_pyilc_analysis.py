"""Analyse the ILC predictions: pixel metrics, power spectra, summaries and figures.

Usage: ``python main_pyilc_analysis.py [key=value ...]`` (Hydra overrides; see README.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_pyilc")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg, task="pyilc_analysis")


if __name__ == "__main__":
    main()
