"""Run everything on one dataset: simulation, CNILC, CMBNNCS, their analyses and the comparison.

Usage: ``python main_all.py [key=value ...]`` (Hydra overrides; see README.md).
"""

import hydra
from omegaconf import DictConfig

from cmbml.core import Catalog, prepare_cli, run_pipeline
from cmbml.core.splits import evaluation_splits

prepare_cli()


@hydra.main(version_base="1.3", config_path="cfg", config_name="config_all")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)
    catalog = Catalog.from_config(cfg)
    leaderboard = catalog.path("comparison_pixel_md")
    print(f"\nPixel leaderboard ({leaderboard}):\n{leaderboard.read_text()}")
    print(f"Power-spectrum leaderboard: {catalog.path('comparison_ps_md')}")
    print(f"Comparison figure: {catalog.path('comparison_fig_spectra')}")
    where = {"split": "Test", "scoring": cfg.model.analysis.protocol}
    if len(evaluation_splits(cfg)) > 1:
        print(f"Generalisation table: {catalog.path('generalisation_md')}")
    for method in cfg.model.analysis.methods.values():
        figures = catalog.path("analysis_fig_ps_dist", working=method.working, **where)
        print(f"{method.name} figures: {figures.parent}")
    print(f"Report (open in a browser): {catalog.path('comparison_report')}")


if __name__ == "__main__":
    main()
