"""The pipeline runner: checks everything first, then runs stages with resume.

``run_pipeline(cfg)`` builds every stage listed in ``pipeline.stages`` (narrowed by
``pipeline.only`` / ``pipeline.from_stage``), checks that their catalog entries and config keys
resolve, then runs them in order. Each unit of work (one simulation, or the whole stage) ends by
writing a small manifest with the stage's config hash and the files it wrote; on rerun a unit
whose manifest has the same hash and whose files exist is skipped. A stage's hash covers its
``config_keys``, its registry settings, the global seed and the hashes of the stages producing its
inputs, so a changed upstream config recomputes downstream too. ``pipeline.force=true``
recomputes everything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from cmbml.core import distributed
from cmbml.core.catalog import Catalog
from cmbml.core.errors import ConfigError
from cmbml.core.logs import run_logging
from cmbml.core.parallel import Backend, open_backend
from cmbml.core.schema import validate_config
from cmbml.core.stage import Stage

__all__ = ["StageReport", "build_stages", "run_pipeline", "stage_hashes"]

log = logging.getLogger(__name__)
MANIFEST_ENTRY = "stage_manifest"


@dataclass
class StageReport:
    """What one stage did: units computed and units skipped as up to date."""

    ran: int = 0
    skipped: int = 0
    wall_s: float = 0.0


def _registry(cfg: DictConfig) -> dict[str, type[Stage]]:
    classes = {}
    for name, node in cfg.stages.items():
        try:
            cls = get_class(node["_target_"])
        except Exception as exc:
            raise ConfigError(f"stages.{name}._target_ = '{node['_target_']}': {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Stage)):
            raise ConfigError(f"stages.{name}._target_ is not a cmbml Stage subclass")
        classes[name] = cls
    return classes


def _settings(cfg: DictConfig, name: str) -> dict:
    node = OmegaConf.to_container(cfg.stages[name], resolve=True)
    node.pop("_target_")
    return node


def build_stages(cfg: DictConfig, names: list[str] | None = None) -> dict[str, Stage]:
    """Instantiate stages of the registry (all, or ``names``) with producer information."""
    classes = _registry(cfg)
    producers: dict[str, str] = {}
    for name, cls in classes.items():
        for output in cls.outputs:
            producers.setdefault(output, name)
    wanted = list(classes) if names is None else names
    unknown = [n for n in wanted if n not in classes]
    if unknown:
        raise ConfigError(
            f"unknown stage(s) {', '.join(unknown)}; registered stages: {', '.join(classes)}"
        )
    return {
        n: classes[n](cfg, name=n, settings=_settings(cfg, n), producers=producers) for n in wanted
    }


def stage_hashes(stages: dict[str, Stage], names: list[str] | None = None) -> dict[str, str]:
    """Config hash of stages ``names`` (default all), chained through their inputs' producers."""

    @functools.cache
    def digest(name: str) -> str:
        stage = stages[name]
        upstream = sorted(
            {stage.producers[i] for i in stage.inputs if stage.producers.get(i) not in (None, name)}
        )
        payload = {
            "class": f"{type(stage).__module__}.{type(stage).__qualname__}",
            **stage.stage_config(),
            "upstream": {u: digest(u) for u in upstream},
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    return {name: digest(name) for name in (stages if names is None else names)}


def _selected(cfg: DictConfig, task: str | None) -> list[str]:
    pcfg = cfg.pipeline
    names = list(pcfg.stages if task is None else pcfg.tasks[task])
    if pcfg.get("from_stage"):
        if pcfg.from_stage not in names:
            raise ConfigError(f"pipeline.from_stage='{pcfg.from_stage}' is not among {names}")
        names = names[names.index(pcfg.from_stage) :]
    if pcfg.get("only"):
        only = list(pcfg.only)
        bad = [n for n in only if n not in names]
        if bad:
            raise ConfigError(f"pipeline.only names stage(s) {bad} not among {names}")
        names = [n for n in names if n in only]
    return names


def _check(stage: Stage, catalog: Catalog) -> None:
    for name in (*stage.inputs, *stage.outputs):
        catalog.check(name)
    stage.stage_config()


def _unit_name(unit: tuple[str, int] | None) -> str:
    return "all" if unit is None else f"{unit[0]}_sim{unit[1]:04d}"


def _manifest_path(stage: Stage, unit) -> Path:
    return stage.catalog.path(MANIFEST_ENTRY, stage=stage.name, name=_unit_name(unit))


def _is_done(stage: Stage, unit, digest: str) -> bool:
    path = _manifest_path(stage, unit)
    if not path.exists():
        return False
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("hash") == digest and all(Path(p).exists() for p in manifest["outputs"])


def _run_unit(stage: Stage, digest: str, unit) -> int:
    """Run one unit in whatever process the backend chose; write its manifest last."""
    stage.written = []
    if unit is None:
        stage.run()
    else:
        stage.process_sim(*unit)
    manifest = {"stage": stage.name, "hash": digest, "outputs": [str(p) for p in stage.written]}
    stage.catalog.handler(MANIFEST_ENTRY).write(_manifest_path(stage, unit), manifest)
    return len(stage.written)


def run_pipeline(cfg: DictConfig, task: str | None = None) -> dict[str, StageReport]:
    """Check, then run the configured stages; return a report per stage.

    Parameters
    ----------
    cfg : DictConfig
        A composed primary config.
    task : str, optional
        Run ``pipeline.tasks[task]`` instead of ``pipeline.stages``.
    """
    validate_config(cfg)
    names = _selected(cfg, task)
    stages = build_stages(cfg)
    catalog = Catalog.from_config(cfg)
    catalog.check(MANIFEST_ENTRY)
    for name in names:
        _check(stages[name], catalog)
    hashes = stage_hashes(stages, names)
    # torchrun: ranks > 0 take part only in stages with `distributed = True` (no lock, no logs)
    if distributed.launch_rank() > 0:
        return distributed.follow(stages, names)
    force = bool(cfg.pipeline.get("force", False))
    reports: dict[str, StageReport] = {}
    with run_logging(cfg, catalog, task), open_backend(cfg.parallel) as backend:
        for name in names:
            reports[name] = _run_stage(stages[name], hashes[name], force, backend)
    return reports


def _run_stage(stage: Stage, digest: str, force: bool, backend) -> StageReport:
    units = list(stage.units()) if stage.per_sim else [None]
    todo = [u for u in units if force or not _is_done(stage, u, digest)]
    report = StageReport(skipped=len(units) - len(todo))
    log.info(
        "stage %s: %d to compute, %d up to date (hash %s)",
        stage.name,
        len(todo),
        report.skipped,
        digest,
    )
    start = time.perf_counter()
    # torchrun: rank 0 tells ranks > 0 whether a distributed stage runs; it runs in this process
    if distributed.announce(stage, bool(todo)):
        backend = Backend()
    if todo:
        stage.catalog.handler(MANIFEST_ENTRY).write(
            stage.catalog.path(MANIFEST_ENTRY, stage=stage.name, name="stage"),
            {"hash": digest, **stage.stage_config()},
        )
        backend.map(functools.partial(_run_unit, stage, digest), todo, desc=stage.name)
    report.ran = len(todo)
    report.wall_s = time.perf_counter() - start
    log.info("stage %s done in %.1f s", stage.name, report.wall_s)
    return report
