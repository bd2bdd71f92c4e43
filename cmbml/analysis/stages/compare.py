"""Stage ``analysis_compare``: one leaderboard across methods, tables and an overlay figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from cmbml.analysis import figures, tables
from cmbml.analysis.stages.base import protocol_of
from cmbml.analysis.stages.power_spectra import PS_METRICS
from cmbml.analysis.stages.summaries import BLOCKS, by_spectrum, spectrum_titles
from cmbml.core import ConfigError, Stage

__all__ = ["AnalysisCompare"]


def compared_models(cfg) -> tuple[str, list[dict]]:
    """The split compared and the method rows of ``model.analysis.compare``: its ``models``
    list followed by the ``extra_models`` that installed method packages add.

    Raises
    ------
    ConfigError
        When the block is missing, empty, or a row lacks ``model``, ``working`` or ``epoch``.
    """
    node = OmegaConf.select(cfg, "model.analysis.compare")
    if node is None:
        raise ConfigError("config has no 'model.analysis.compare' (the methods to compare)")
    compare = OmegaConf.to_container(node, resolve=True)
    keys = {f"models[{i}]": entry for i, entry in enumerate(compare.get("models") or [])}
    keys.update(
        {f"extra_models.{k}": entry for k, entry in (compare.get("extra_models") or {}).items()}
    )
    if not keys:
        raise ConfigError(
            "model.analysis.compare.models and extra_models are empty: nothing to compare"
        )
    for key, entry in keys.items():
        missing = [k for k in ("model", "working", "epoch") if k not in entry]
        if missing:
            raise ConfigError(f"model.analysis.compare.{key} lacks key(s) {missing}")
    return str(compare.get("split", "Test")), list(keys.values())


class AnalysisCompare(Stage):
    """Leaderboard of several methods' analyses of the same dataset under one scoring protocol.

    ``model.analysis.compare.models`` lists ``{model, working, epoch}`` (display name, the
    method's working directory, the epoch to compare; ``null`` for methods without epochs),
    followed by the values of ``model.analysis.compare.extra_models`` (the rows of installed
    method packages, by method name);
    ``model.analysis.compare.split`` names the analysed split; ``model.analysis.protocol`` the
    protocol (every method's summary must carry it). One row per method, columns ``model``,
    ``protocol`` then ``<metric>_mean``, ``<metric>_std``; Markdown and LaTeX name the protocol
    in a caption and put the best value of each column in bold. When a method was scored on
    Q, U, the pixel leaderboard has a first column ``field`` and one block of rows per field
    (I, Q, U, P) and the spectrum leaderboard a first column ``spectrum`` (with each row's
    ``ell_min``, ``ell_max``) and one block per spectrum (TT, EE, BB, TE); an intensity-only
    method appears in the I and TT blocks. A method whose summary is missing raises
    ``FileNotFoundError`` naming the method and the file.

    The methods' results may come from other runs, so the stage declares no catalog ``inputs``;
    the files it reads are recorded as the inputs of its unit like any other, so a changed method
    result recomputes the comparison, in the same run when that method ran before it.

    Config: ``model.analysis.{compare, pixel_metrics, protocol}``. Reads
    ``analysis_pixel_summary``, ``analysis_ps_summary`` (split, working) and
    ``analysis_ps_mean`` (split, working, epoch) of each method; writes ``comparison_pixel``,
    ``comparison_pixel_md``, ``comparison_pixel_tex``, the same three ``comparison_ps*`` entries,
    ``comparison_fig_spectra`` (TT) and, when a method has them, ``comparison_fig_spectra_pol``
    (EE and BB) (PNG and PDF).
    """

    name = "analysis_compare"
    per_sim = False
    outputs = (
        "comparison_pixel",
        "comparison_pixel_md",
        "comparison_pixel_tex",
        "comparison_ps",
        "comparison_ps_md",
        "comparison_ps_tex",
        "comparison_fig_spectra",
        "comparison_fig_spectra_pol",
    )
    config_keys = (
        "model.analysis.compare",
        "model.analysis.pixel_metrics",
        "model.analysis.protocol",
    )

    def manifest_scope(self) -> str:
        """The scoring protocol (one leaderboard per protocol)."""
        return protocol_of(self.cfg)

    def _models(self) -> tuple[str, list[dict]]:
        return compared_models(self.cfg)

    def _method_files(self) -> list[dict]:
        """Per method: ``model``, ``epoch`` and the paths it is compared from (``pixel``,
        ``ps``: summary tables; ``spectra``: mean binned spectra of the epoch)."""
        split, models = self._models()
        files = []
        for m in models:
            where = {"split": split, "working": m["working"]}
            epoch = tables.epoch_label(m["epoch"])
            files.append(
                {
                    "model": m["model"],
                    "epoch": m["epoch"],
                    "pixel": self.path("analysis_pixel_summary", **where),
                    "ps": self.path("analysis_ps_summary", **where),
                    "spectra": self.path("analysis_ps_mean", epoch=epoch, **where),
                }
            )
        return files

    def run(self) -> None:
        """Write the pixel and power-spectrum leaderboards and the spectra overlays."""
        files = self._method_files()
        protocol = protocol_of(self.cfg)
        caption = tables.protocol_caption(protocol)
        kinds = {"pixel": list(self.cfg.model.analysis.pixel_metrics), "ps": list(PS_METRICS)}
        for kind, metrics in kinds.items():
            entries = [
                (f["model"], self._method_file(f["model"], f[kind]), f["epoch"]) for f in files
            ]
            block = BLOCKS[kind]
            board = tables.build_leaderboard(entries, metrics, protocol, block=block)
            shown = dict(caption=caption, block=block, block_titles=spectrum_titles(board))
            self.write(f"comparison_{kind}", board)
            self.write(f"comparison_{kind}_md", tables.to_markdown(board, "model", **shown))
            self.write(f"comparison_{kind}_tex", tables.to_latex(board, "model", **shown))
        means = {
            f["model"]: pd.read_csv(self._method_file(f["model"], f["spectra"])) for f in files
        }
        title = f"{self.cfg.dataset_name}, {self._models()[0]}, protocol {protocol}"
        tt = {model: by_spectrum(table)["TT"] for model, table in means.items()}
        self.write("comparison_fig_spectra", figures.plot_spectra_overlay(tt, title=title))
        if any("spectrum" in table for table in means.values()):
            fig = figures.plot_spectra_overlay(means, title=title, spectra_names=("EE", "BB"))
            self.write("comparison_fig_spectra_pol", fig)

    def _method_file(self, model: str, path: Path) -> Path:
        """``path`` of method ``model``, recorded as read; a missing one names the method."""
        return self.asset(
            path,
            hint=f"no result for method '{model}' (run that method's analysis first, or fix its "
            "working dir or epoch in model.analysis.compare)",
        )
