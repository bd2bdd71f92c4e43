"""Compare cleaning methods in one leaderboard (tables and figures).

Usage: ``python main_analysis_compare.py [key=value ...]`` (Hydra overrides; see README.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_comp_models")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
