"""Stage ``analysis_generalisation``: a leaderboard per test split and the generalisation table."""

from __future__ import annotations

import pandas as pd

from cmbml.analysis import tables
from cmbml.analysis.generalisation import generalisation_table, markdown_table
from cmbml.analysis.stages.base import protocol_of, scorings
from cmbml.analysis.stages.compare import AnalysisCompare
from cmbml.analysis.stages.power_spectra import ps_metrics
from cmbml.analysis.stages.summaries import BLOCKS, spectrum_titles
from cmbml.core import ConfigError, get_splits
from cmbml.core.splits import split_kinds

__all__ = ["AnalysisGeneralisation"]


class AnalysisGeneralisation(AnalysisCompare):
    """Does a method generalise? Every test split's leaderboard, and each method's metrics on
    the other test splits over their in-distribution values.

    The methods are those of ``model.analysis.compare.models``; the in-distribution split is
    ``model.analysis.compare.split`` (default ``Test``); the test splits are every ``Test*``
    split with simulations to infer (in-distribution, fixed-spectrum, foreground- or
    noise-shift: ``splits.<name>.kind``, :mod:`cmbml.core.splits`). Per test split, the pixel and
    spectrum leaderboards (as ``analysis_compare``'s, CSV and Markdown); then the
    generalisation table (:func:`cmbml.analysis.generalisation.generalisation_table`): columns
    ``model, split, metric, in_distribution, value, ratio``, pixel metrics then spectrum
    metrics, with its Markdown twin (the splits' kinds in the caption).

    Config: ``model.analysis.{compare, pixel_metrics, protocol}`` and the test splits' names and
    kinds. Reads each method's ``analysis_pixel_summary`` and ``analysis_ps_summary`` of every
    test split; writes ``comparison_split_pixel(_md)``, ``comparison_split_ps(_md)`` (per split),
    ``generalisation`` and ``generalisation_md``. For each observation-only split (real maps),
    each method's reference metrics (``analysis_reference_metrics``, mean over the split's
    maps) per reference map: ``comparison_reference(_md)``.
    """

    name = "analysis_generalisation"
    outputs = (
        "comparison_split_pixel",
        "comparison_split_pixel_md",
        "comparison_split_ps",
        "comparison_split_ps_md",
        "generalisation",
        "generalisation_md",
        "comparison_reference",
        "comparison_reference_md",
    )

    def test_split_kinds(self) -> dict[str, str]:
        """Test split -> kind, for the simulated splits with simulations to infer."""
        kinds = split_kinds(self.cfg)
        return {
            s.name: kinds[s.name]
            for s in get_splits(self.cfg)
            if s.name.startswith("Test") and s.n_infer > 0 and kinds[s.name] != "observation"
        }

    def observation_splits(self) -> dict[str, int]:
        """Observation-only test split -> number of its maps to score."""
        kinds = split_kinds(self.cfg)
        return {
            s.name: s.n_infer
            for s in get_splits(self.cfg)
            if kinds[s.name] == "observation" and s.n_infer > 0
        }

    def stage_config(self) -> dict:
        """Config hash input: also the test splits, their kinds and the observation splits."""
        config = super().stage_config()
        config["test_splits"] = self.test_split_kinds()
        config["observation_splits"] = self.observation_splits()
        return config

    def run(self) -> None:
        """Write every test split's leaderboards, the generalisation table and the reference
        boards of observation-only splits."""
        reference, models = self._models()
        target = scorings(self.cfg)[0][1]
        caption = tables.protocol_caption(
            protocol_of(self.cfg),
            beam=None if target is None else target.name,
            notes=self.notes(),
        )
        splits = self.test_split_kinds()
        if splits or not self.observation_splits():
            if reference not in splits:
                raise ConfigError(
                    f"model.analysis.compare.split '{reference}' is not a test split with "
                    f"simulations ({list(splits)})"
                )
            self._generalisation(reference, splits, models, caption)
        for split, n_sims in self.observation_splits().items():
            self._reference_board(split, n_sims, models, caption)

    def _generalisation(self, reference: str, splits: dict, models: list, caption: str) -> None:
        """Each test split's leaderboards and the generalisation table."""
        protocol = protocol_of(self.cfg)
        kinds = {
            "pixel": list(self.cfg.model.analysis.pixel_metrics),
            "ps": list(ps_metrics(protocol)),
        }
        parts = []
        for kind, metrics in kinds.items():
            boards = {}
            for split in splits:
                entries = [(m["model"], self._summary(m, kind, split), m["epoch"]) for m in models]
                board = tables.build_leaderboard(entries, metrics, protocol, block=BLOCKS[kind])
                shown = dict(block=BLOCKS[kind], block_titles=spectrum_titles(board))
                text = tables.to_markdown(board, "model", caption=f"{split}. {caption}", **shown)
                self.write(f"comparison_split_{kind}", board, split=split)
                self.write(f"comparison_split_{kind}_md", text, split=split)
                boards[split] = board
            parts.append(generalisation_table(boards, reference, metrics, BLOCKS[kind]))
        table = pd.concat(parts, ignore_index=True)
        described = ", ".join(f"{name} ({kind})" for name, kind in splits.items())
        self.write("generalisation", table)
        self.write(
            "generalisation_md",
            markdown_table(table, f"*Against {reference}; test splits: {described}. {caption}*"),
        )
        self.log.info("generalisation over %d test splits: %d rows", len(splits), len(table))

    def _reference_board(self, split: str, n_sims: int, models: list, caption: str) -> None:
        """Mean reference metrics of every method on observation split ``split``."""
        rows = []
        for m in models:
            epoch = tables.epoch_label(m["epoch"])
            for sim in range(n_sims):
                where = {"split": split, "sim": sim, "working": m["working"]}
                where["scoring"] = protocol_of(self.cfg)
                path = self._method_file(
                    m["model"], self.path("analysis_reference_metrics", **where)
                )
                table = pd.read_csv(path, dtype={"epoch": str}, keep_default_na=False)
                rows.append(table[table["epoch"] == epoch].assign(model=m["model"], sim=sim))
        frame = pd.concat(rows, ignore_index=True).drop(columns=["epoch"])
        board = frame.groupby(["model", "reference"], sort=False).mean(numeric_only=True)
        board = board.drop(columns="sim").reset_index()
        self.write("comparison_reference", board, split=split)
        title = f"*{split}: real sky, compared with reference maps (not a truth). {caption}*"
        self.write("comparison_reference_md", markdown_table(board, title), split=split)

    def _summary(self, model: dict, kind: str, split: str):
        """A method's summary on ``split``: pixel metrics of the first scoring (under
        ``iccv2025``: the first target beam), spectra of the protocol."""
        scoring = scorings(self.cfg)[0][0] if kind == "pixel" else protocol_of(self.cfg)
        where = {"split": split, "working": model["working"], "scoring": scoring}
        path = self.path(f"analysis_{kind}_summary", **where)
        return self._method_file(model["model"], path)
