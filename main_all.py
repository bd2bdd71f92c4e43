"""Run everything on one dataset: simulation, CNILC, CMBNNCS, their analyses and the comparison.

Usage: ``python main_all.py [key=value ...]`` (Hydra overrides; see README.md);
``python main_all.py --config-name config_all_methods`` adds every other network (PatchNN).
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
    compared = {entry.model for entry in cfg.model.analysis.compare.models}
    for method in cfg.model.analysis.methods.values():
        if method.name not in compared:
            continue
        figures = catalog.path("analysis_fig_ps_dist", working=method.working, **where)
        print(f"{method.name} figures: {figures.parent}")
    print(f"Report (open in a browser): {catalog.path('comparison_report')}")


if __name__ == "__main__":
    main()
