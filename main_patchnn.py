"""Train PatchNN (a UNet on HEALPix patches), predict the Test split, analyse the predictions.

Usage: ``python main_patchnn.py [key=value ...]`` (Hydra overrides; see docs/networks.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import prepare_cli, run_pipeline

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_patchnn")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
