"""Stage ``analysis_compare``: one leaderboard across methods, tables and an overlay figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from cmbml.analysis import figures, tables
from cmbml.analysis.stages.base import protocol_of, scorings
from cmbml.analysis.stages.power_spectra import ps_metrics
from cmbml.analysis.stages.summaries import BLOCKS, by_spectrum, spectrum_titles
from cmbml.core import ConfigError, MissingInputError, Stage
from cmbml.core.dataset import observed_pixel_window

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
    ``protocol`` then ``<metric>_mean``, ``<metric>_std``; Markdown and LaTeX name the protocol,
    the analysis mask (``analysis_mask_info``) and the pixel window of the observed maps (the
    dataset's record) in a caption and put the best value of each column in bold. Under
    ``iccv2025`` the pixel leaderboard has one labelled section per target beam
    (``model.analysis.cmb_ml.target_beams``; a first column ``beam`` in the CSV). When a method
    was scored on Q, U, the pixel leaderboard has a first column ``field`` and one block of rows
    per field (I, Q, U, P) and the spectrum leaderboard a first column ``spectrum`` (with each row's
    ``ell_min``, ``ell_max``) and one block per spectrum (TT, EE, BB, TE); an intensity-only
    method appears in the I and TT blocks. A method whose summary is missing raises
    ``FileNotFoundError`` naming the method and the file.

    The methods' results may come from other runs, so the stage declares no catalog ``inputs``;
    the files it reads are recorded as the inputs of its unit like any other, so a changed method
    result recomputes the comparison, in the same run when that method ran before it.

    Config: ``model.analysis.{compare, pixel_metrics, protocol, cmb_ml.target_beams}``,
    ``dataset.pixel_window``. Reads ``analysis_mask_info``, ``dataset_info``,
    ``analysis_pixel_summary``, ``analysis_ps_summary`` (split, working, scoring) and
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
        "dataset.pixel_window",
        "model.analysis.cmb_ml.target_beams",
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
        """Per method: ``model``, ``epoch`` and the paths it is compared from (``pixel``: summary
        table per scoring; ``ps``: spectrum summary; ``spectra``: mean binned spectra of the
        epoch)."""
        split, models = self._models()
        protocol = protocol_of(self.cfg)
        files = []
        for m in models:
            where = {"split": split, "working": m["working"]}
            epoch = tables.epoch_label(m["epoch"])
            pixel = {
                scoring: self.path("analysis_pixel_summary", scoring=scoring, **where)
                for scoring, _ in scorings(self.cfg)
            }
            where["scoring"] = protocol
            files.append(
                {
                    "model": m["model"],
                    "epoch": m["epoch"],
                    "pixel": pixel,
                    "ps": self.path("analysis_ps_summary", **where),
                    "spectra": self.path("analysis_ps_mean", epoch=epoch, **where),
                }
            )
        return files

    def notes(self) -> list[str]:
        """What the leaderboard's numbers rest on: the analysis mask and the pixel window of
        the dataset's observed maps."""
        if self.exists("analysis_mask_info"):
            info = self.read("analysis_mask_info")
            mask = f"Mask: {info.get('source')} {info.get('file')}"
            if info.get("source") == "planck":
                mask += f" {info.get('column')} >= {info.get('threshold')}"
            mask += f", f_sky {float(info.get('fsky', float('nan'))):.3f}"
        else:
            mask = f"Mask: not recorded ({self.path('analysis_mask_info')} is missing)"
        try:
            window = "carry" if observed_pixel_window(self) else "carry no"
            window = f"Observed maps {window} pixel window (dataset.yaml or dataset.pixel_window)"
        except MissingInputError:
            window = "Pixel window of the observed maps: not recorded"
        return [mask, window]

    def run(self) -> None:
        """Write the pixel and power-spectrum leaderboards and the spectra overlays."""
        files = self._method_files()
        protocol = protocol_of(self.cfg)
        caption = tables.protocol_caption(protocol, notes=self.notes())
        metrics = list(self.cfg.model.analysis.pixel_metrics)
        optional = list(self.cfg.model.analysis.compare.get("optional_metrics") or [])
        boards = []
        for scoring, target in scorings(self.cfg):
            entries = [self._entry(f, f["pixel"][scoring]) for f in files]
            board = tables.build_leaderboard(
                entries, metrics, protocol, block="field", optional_metrics=optional
            )
            boards.append((None if target is None else target.name, board))
        self._write_board("pixel", boards, caption)
        entries = [self._entry(f, f["ps"]) for f in files]
        board = tables.build_leaderboard(
            entries, list(ps_metrics(protocol)), protocol, block="spectrum"
        )
        self._write_board("ps", [(None, board)], caption)
        means = {
            f["model"]: pd.read_csv(self._method_file(f["model"], f["spectra"])) for f in files
        }
        title = f"{self.cfg.dataset_name}, {self._models()[0]}, protocol {protocol}"
        tt = {model: by_spectrum(table)["TT"] for model, table in means.items()}
        self.write("comparison_fig_spectra", figures.plot_spectra_overlay(tt, title=title))
        if any("spectrum" in table for table in means.values()):
            fig = figures.plot_spectra_overlay(means, title=title, spectra_names=("EE", "BB"))
            self.write("comparison_fig_spectra_pol", fig)

    def _write_board(self, kind: str, boards: list, caption: str) -> None:
        """CSV, Markdown and LaTeX of a leaderboard, one labelled section per target beam."""
        block = BLOCKS[kind]
        md, tex = [f"*{caption}*", ""], [f"% {caption}"]
        for beam, board in boards:
            shown = dict(block=block, block_titles=spectrum_titles(board))
            if beam is not None:
                md += [f"### Target beam: {beam}", ""]
                tex.append(f"% Target beam: {beam}\n")
            md.append(tables.to_markdown(board, "model", **shown))
            tex.append(tables.to_latex(board, "model", **shown))
        labelled = [b if beam is None else b.assign(beam=beam) for beam, b in boards]
        table = pd.concat(labelled, ignore_index=True)
        if "beam" in table:
            table = table[["beam", *(c for c in table.columns if c != "beam")]]
        self.write(f"comparison_{kind}", table)
        self.write(f"comparison_{kind}_md", "\n".join(md))
        self.write(f"comparison_{kind}_tex", tex[0] + "\n" + "".join(tex[1:]))

    def _entry(self, files: dict, path: Path) -> tuple:
        """``(model, path, epoch)`` of one method's summary, recorded as read."""
        return files["model"], self._method_file(files["model"], path), files["epoch"]

    def _method_file(self, model: str, path: Path) -> Path:
        """``path`` of method ``model``, recorded as read; a missing one names the method."""
        return self.asset(
            path,
            hint=f"no result for method '{model}' (run that method's analysis first, or fix its "
            "working dir or epoch in model.analysis.compare)",
        )
