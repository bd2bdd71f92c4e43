"""Simulate the dataset: instrument, noise, cosmologies, CMB spectra, skies, observations, mask.

Usage: ``python main_sims.py [key=value ...]`` (Hydra overrides; see README.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_sims")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
