"""Clean the Test split with the needlet (CNILC) or harmonic (HILC) internal linear combination.

Usage: ``python main_pyilc_predict.py [key=value ...]`` (Hydra overrides; see README.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_pyilc")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg, task="pyilc_predict")


if __name__ == "__main__":
    main()
