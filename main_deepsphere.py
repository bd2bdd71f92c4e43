"""Train DeepSphere (a graph UNet on the sphere), predict the Test split, analyse the predictions.

Usage: ``python main_deepsphere.py [key=value ...]`` (Hydra overrides; see docs/networks.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_deepsphere")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
