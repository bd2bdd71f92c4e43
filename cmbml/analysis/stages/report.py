"""Stage ``analysis_report``: the dataset's results as one static HTML page."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from urllib.parse import quote

import yaml

from cmbml.analysis import report_html as rh
from cmbml.analysis import tables
from cmbml.analysis.lineage import ManifestIndex, StageTrail
from cmbml.analysis.stages.base import protocol_of
from cmbml.analysis.stages.compare import compared_models
from cmbml.core import MissingInputError, Stage, get_handler, provenance
from cmbml.core.manifests import STAGE_RECORD_ENTRY, Ledger
from cmbml.core.version import code_version

__all__ = ["AnalysisReport"]

#: Abbreviations in leaderboard file names, spelled out in their headings.
WORDS = {"ps": "power-spectrum"}


class AnalysisReport(Stage):
    """One self-contained HTML page of the dataset's results (``comparison_report``).

    Shows every leaderboard found under the folder of ``comparison_report`` (the dataset's
    ``Comparison`` folder), whatever stage wrote it: each CSV table, and each Markdown table
    that has no CSV of the same name, grouped by their first sub-folder (the scoring protocol),
    as sortable tables; every PNG figure there, embedded. Then, per method of
    ``model.analysis.compare.models`` and per protocol, the unit manifests behind its numbers
    (walked upstream from the files the leaderboards read: :mod:`cmbml.analysis.lineage`), per
    stage with its config hash, the code version and config it was computed with (its
    ``stage_record``), and a digest of those manifests; and the method's own figures, linked.

    The page needs no network (inline style and script, a content policy forbidding anything
    else) and opens from a file:// URL. The list of files found is part of the stage's hash, so
    a new leaderboard or figure rewrites the page, and every file read is recorded as an input.
    """

    name = "analysis_report"
    per_sim = False
    outputs = ("comparison_report",)
    config_keys = ("model.analysis.compare",)

    def folder(self) -> Path:
        """The folder searched for leaderboards (the report's own folder)."""
        return self.path("comparison_report").parent

    def _found(self) -> tuple[list[Path], list[Path]]:
        """Leaderboard tables and PNG figures under :meth:`folder`, sorted."""
        files = sorted(
            p for p in self.folder().rglob("*") if p.is_file() and not p.name.startswith(".")
        )
        csvs = [p for p in files if p.suffix == ".csv"]
        mds = [p for p in files if p.suffix == ".md" and p.with_suffix(".csv") not in csvs]
        return sorted(csvs + mds), [p for p in files if p.suffix == ".png"]

    def _models(self) -> list[dict]:
        return compared_models(self.cfg)[1]

    def _method_figures(self, working: str, protocol: str) -> list[Path]:
        """PNG figures of a method's analysis under ``protocol``: the catalog's figure folder
        of that scoring and, under ``iccv2025``, those of its target beams."""
        where = {"working": working, "split": "Test", "scoring": protocol}
        folder = self.path("analysis_fig_pixel_dist", **where).parent
        return sorted([*folder.glob("*.png"), *folder.parent.glob(f"*/{folder.name}/*.png")])

    def config_hash(self) -> str:
        """The base hash and the names of the files the page shows (a new one rewrites it)."""
        tables_found, figures = self._found()
        shown = [*tables_found, *figures]
        for protocol in _groups(self.folder(), shown, protocol_of(self.cfg)):
            for model in self._models():
                shown += self._method_figures(str(model.get("working")), protocol)
        folder = self.folder().parent
        names = [os.path.relpath(p, folder) for p in shown]
        return provenance.combine([super().config_hash(), *names])

    def run(self) -> None:
        """Write the page."""
        tables_found, figures = self._found()
        if not tables_found:
            raise MissingInputError(
                f"stage '{self.name}' found no leaderboard (CSV or Markdown table) under "
                f"{self.folder()}; run stage 'analysis_compare' first"
            )
        groups = _groups(self.folder(), [*tables_found, *figures], protocol_of(self.cfg))
        body = [self._protocol_section(p, files) for p, files in groups.items()]
        body.append(self._methods_section(groups))
        nav = [(_anchor("protocol", p), f"Protocol {p}" if p else "Other") for p in groups]
        page = rh.page(
            f"Results: {self.cfg.dataset_name}",
            f"{len(tables_found)} leaderboard file(s), {len(figures)} figure(s), "
            f"{len(self._models())} method(s)",
            [*nav, ("methods", "Methods")],
            "".join(body),
            f"Written by {code_version()} (stage {self.name}).",
        )
        self.log.info("report %s", self.write("comparison_report", page))

    # -- leaderboards ----------------------------------------------------------------------
    def _protocol_section(self, protocol: str, files: list[Path]) -> str:
        title = f"Protocol: {protocol}" if protocol else "Other results"
        parts = [f'<section id="{_anchor("protocol", protocol)}"><h2>{html.escape(title)}</h2>']
        if protocol in tables.PROTOCOL_TEXT:
            parts.append(f'<p class="caption">{html.escape(tables.protocol_caption(protocol))}</p>')
        for path in (p for p in files if p.suffix != ".png"):
            parts.append(self._table_block(path))
        pngs = [p for p in files if p.suffix == ".png"]
        if pngs:
            parts.append("<h3>Figures</h3>")
            parts += [self._figure(p, rh.data_uri(self.asset(p))) for p in pngs]
        return "".join(parts) + "</section>"

    def _table_block(self, path: Path) -> str:
        source = path.relative_to(self.folder()).as_posix()
        md = path.with_suffix(".md")
        caption, found = (
            rh.markdown_tables(self.asset(md).read_text(), source) if md.is_file() else (None, [])
        )
        if path.suffix == ".csv":
            found = rh.csv_tables(get_handler("csv").read(self.asset(path)), source)
        heading = " · ".join([*path.relative_to(self.folder()).parent.parts[1:], _title(path)])
        parts = [
            f'<h3>{html.escape(heading)}<span class="source">{html.escape(source)}</span></h3>'
        ]
        if caption and caption != tables.protocol_caption(path.relative_to(self.folder()).parts[0]):
            parts.append(f'<p class="caption">{html.escape(caption)}</p>')
        return "".join(parts + [rh.render_table(t) for t in found])

    def _figure(self, path: Path, src: str, thumb: bool = False) -> str:
        name = html.escape(path.name)
        img = f'<img src="{html.escape(src)}" alt="{name}">'
        if thumb:
            img = f'<a href="{html.escape(src)}">{img}</a>'
        kind = "thumb" if thumb else "full"
        return f'<figure class="{kind}">{img}<figcaption>{name}</figcaption></figure>'

    # -- methods ---------------------------------------------------------------------------
    def _methods_section(self, groups: dict[str, list[Path]]) -> str:
        index = ManifestIndex(self.path("stage_manifest", stage="_", name="_").parent.parent)
        codec = Ledger(self.catalog).codec
        parts = ['<section id="methods"><h2>Methods</h2>']
        for model in self._models():
            name, working = str(model.get("model")), str(model.get("working"))
            parts.append(f"<h3>{html.escape(name)}</h3><dl>")
            epoch = tables.epoch_label(model.get("epoch"))
            for label, value in (("working folder", working), ("epoch", epoch)):
                parts.append(f"<dt>{label}</dt><dd><code>{html.escape(str(value))}</code></dd>")
            parts.append("</dl>")
            prefix = codec.encode(self.folder().parent / working) + "/"
            for protocol, files in groups.items():
                read = {n for r in index.writers(map(codec.encode, files)) for n in r.inputs}
                trails = index.trail(index.upstream(n for n in read if n.startswith(prefix)))
                parts.append(self._provenance(protocol, trails))
                thumbs = self._method_figures(working, protocol)
                report_dir = self.folder()
                parts += [self._figure(p, _relative_url(p, report_dir), True) for p in thumbs]
        return "".join(parts) + "</section>"

    def _provenance(self, protocol: str, trails: list[StageTrail]) -> str:
        where = f"protocol {protocol}" if protocol else "other results"
        if not trails:
            return f'<p class="caption">No recorded result under {html.escape(where)}.</p>'
        rows, configs = [], []
        for trail in trails:
            for manifest in trail.manifests:
                self.asset(manifest)
            record = self._stage_record(trail.stage)
            code = record.get("code", "not recorded")
            rows.append(
                [
                    rh.Cell(trail.stage),
                    rh.Cell(str(trail.units), trail.units),
                    rh.Cell(", ".join(trail.config_hashes)),
                    rh.Cell(str(code)),
                    rh.Cell(trail.digest),
                ]
            )
            if "config" in record:
                text = yaml.safe_dump(record["config"], sort_keys=True)
                configs.append(rh.details(f"{trail.stage}: config", text))
        header = ["stage", "units", "config hash", "code version", "manifests digest"]
        table = rh.Table(header, rows, f"Behind the numbers of {where}", "manifests")
        if not configs:
            return rh.render_table(table)
        inner = "".join(configs)
        return rh.render_table(table) + f"<details><summary>Configs</summary>{inner}</details>"

    def _stage_record(self, stage: str) -> dict:
        path = self.path(STAGE_RECORD_ENTRY, stage=stage)
        if not path.is_file():
            return {}
        return self.catalog.handler(STAGE_RECORD_ENTRY).read(self.asset(path)) or {}


def _groups(folder: Path, files: list[Path], first: str) -> dict[str, list[Path]]:
    """``files`` by their first sub-folder of ``folder`` (``""`` for files directly in it):
    sub-folder ``first`` (the configured protocol), the others by name, then ``""``."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        parts = path.relative_to(folder).parts
        groups.setdefault(parts[0] if len(parts) > 1 else "", []).append(path)
    return dict(sorted(groups.items(), key=lambda item: (item[0] != first, item[0] == "", item[0])))


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_-]+', '-', name) or 'other'}"


def _title(path: Path) -> str:
    """``pixel_comparison.csv`` -> ``Pixel comparison``, ``ps_...`` -> ``Power-spectrum ...``."""
    words = [WORDS.get(w, w) for w in path.stem.split("_")]
    return " ".join(words).capitalize()


def _source(name: str) -> str:
    return f'<span class="source">{html.escape(name)}</span>'


def _relative_url(path: Path, folder: Path) -> str:
    return quote(Path(os.path.relpath(path, folder)).as_posix())
