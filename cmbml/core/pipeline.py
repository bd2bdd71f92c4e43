"""The pipeline runner: checks everything first, then runs stages with provenance-based resume.

``run_pipeline(cfg)`` validates the config, builds every stage listed in ``pipeline.stages``
(narrowed by ``pipeline.only`` / ``pipeline.from_stage``) and checks that their catalog entries
and config keys resolve, all before anything runs. It then takes the dataset's lock, removes
temporary files of killed runs and runs the stages in order.

Each unit of work (one simulation, or the whole stage) is up to date when its manifest
(:mod:`cmbml.core.manifests`) holds the stage's config hash and every file the unit read or wrote
still has its recorded fingerprint. A stage's hash is computed when its turn comes, after the
stages before it ran, so a run is consistent with itself; it covers the stage's class,
``config_keys``, registry settings, the seed and, for ``covers_units`` stages, the simulations
they cover. A recomputed upstream file changes the fingerprint its readers recorded, so exactly
the units that read it recompute. The manifest is removed before a unit recomputes and written
after its last output: a killed run never leaves a unit that looks done. ``pipeline.force=true``
recomputes everything selected; ``pipeline.verify=true`` re-hashes every recorded file.

Every unit runs from the numeric state of a fresh process (:meth:`Stage.numeric_state`: thread
count, seeded global generators, torch defaults), so its result does not depend on what ran
before it in the process. A unit found up to date is still offered to
:meth:`Stage.check_up_to_date`, which refuses inputs whose own provenance no longer holds (a
prediction whose predicting unit is out of date).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from cmbml.core import distributed
from cmbml.core.catalog import Catalog
from cmbml.core.errors import CmbmlError, ConfigError
from cmbml.core.lock import dataset_lock, remove_stale_temporaries, writable
from cmbml.core.logs import run_logging
from cmbml.core.manifests import MANIFEST_ENTRY, Ledger, unit_name
from cmbml.core.parallel import Backend, open_backend
from cmbml.core.schema import validate_config
from cmbml.core.stage import Stage
from cmbml.core.version import code_version

__all__ = ["StageReport", "build_stages", "check_pipeline", "run_pipeline", "stage_hashes"]

log = logging.getLogger(__name__)


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
    """Instantiate stages of the registry (all, or ``names``) with producer information.

    A catalog entry written by several stages (the analysis of each method) maps to each of
    them with its working folder, so a missing file names the stage of the right method.
    """
    classes = _registry(cfg)
    wanted = list(classes) if names is None else names
    unknown = [n for n in wanted if n not in classes]
    if unknown:
        raise ConfigError(
            f"unknown stage(s) {', '.join(unknown)}; registered stages: {', '.join(classes)}"
        )
    catalog = Catalog.from_config(cfg)
    stages = {
        n: cls(cfg, name=n, settings=_settings(cfg, n), catalog=catalog)
        for n, cls in classes.items()
    }
    producers: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for name, stage in stages.items():
        try:
            working = stage.working_dir()
        except CmbmlError:  # a stage whose method config is absent from this primary config
            working = None
        for output in stage.outputs:
            producers[output].append((name, working))
    for stage in stages.values():
        stage.producers = dict(producers)
    return {n: stages[n] for n in wanted}


def stage_hashes(stages: dict[str, Stage], names: list[str] | None = None) -> dict[str, str]:
    """Config hash of stages ``names`` (default all): what their manifests must match besides
    their input files (see :meth:`cmbml.core.Stage.config_hash`)."""
    return {name: stages[name].config_hash() for name in (stages if names is None else names)}


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


def check_pipeline(cfg: DictConfig, task: str | None = None) -> tuple[list[str], dict]:
    """Everything :func:`run_pipeline` checks before it runs anything, and nothing more.

    Returns
    -------
    names : list of str
        The stages the run would go through, in order.
    stages : dict
        Every registered stage, built (name -> :class:`Stage`).

    Raises
    ------
    ConfigError, CatalogError
        A wrong key, type or value; an unknown stage; a catalog entry that cannot resolve.
    """
    validate_config(cfg)
    names = _selected(cfg, task)
    stages = build_stages(cfg)
    catalog = Catalog.from_config(cfg)
    catalog.check(MANIFEST_ENTRY)
    for name in names:
        _check(stages[name], catalog)
    return names, stages


def _run_unit(stage: Stage, ledger: Ledger, digest: str, unit) -> int:
    """Run one unit in whatever process the backend chose; its manifest goes first and last."""
    key = stage.manifest_key()
    ledger.invalidate(key, unit)
    stage.written = []
    stage.read_paths = {}
    with stage.numeric_state(unit):
        if unit is None:
            stage.run()
        else:
            stage.process_sim(*unit)
    ledger.record(key, unit, digest, stage.read_paths, stage.written)
    return len(stage.written)


def run_pipeline(cfg: DictConfig, task: str | None = None) -> dict[str, StageReport]:
    """Check, then run the configured stages; return a report per stage.

    Parameters
    ----------
    cfg : DictConfig
        A composed primary config.
    task : str, optional
        Run ``pipeline.tasks[task]`` instead of ``pipeline.stages``.

    Raises
    ------
    ConfigError
        A wrong key, type or value, before any stage runs.
    DatasetLockedError
        Another run holds the dataset and ``pipeline.lock_wait_s`` ran out.
    """
    names, stages = check_pipeline(cfg, task)
    catalog = Catalog.from_config(cfg)
    # torchrun: ranks > 0 take part only in stages with `distributed = True` (no lock, no logs)
    if distributed.launch_rank() > 0:
        return distributed.follow(stages, names)
    pcfg = cfg.pipeline
    folder = Path(catalog.context["root"]) / str(catalog.context["dataset"])
    ledger = Ledger(catalog, verify=bool(pcfg.get("verify")), writable=writable(folder))
    reports: dict[str, StageReport] = {}
    with ExitStack() as stack:
        if ledger.writable:
            wait = pcfg.get("lock_wait_s")
            stack.enter_context(dataset_lock(folder, str(task or cfg.get("task")), wait))
            remove_stale_temporaries(folder)
        else:
            log.warning("dataset %s is read-only: checking that it is up to date", folder)
        stack.enter_context(run_logging(cfg, catalog, task))
        backend = stack.enter_context(open_backend(cfg.parallel))
        for name in names:
            reports[name] = _run_stage(stages[name], ledger, bool(pcfg.get("force")), backend)
    return reports


def _run_stage(stage: Stage, ledger: Ledger, force: bool, backend) -> StageReport:
    digest = stage.config_hash()  # now, after the stages before it ran
    units = list(stage.units()) if stage.per_sim else [None]
    key = stage.manifest_key()
    todo = []
    for unit in units:
        if force or not ledger.is_done(key, unit, digest):
            todo.append(unit)
        else:
            stage.check_up_to_date(unit)
    report = StageReport(skipped=len(units) - len(todo))
    log.info(
        "stage %s: %d to compute, %d up to date (hash %s)",
        stage.name,
        len(todo),
        report.skipped,
        digest,
    )
    if todo and not ledger.writable:
        raise CmbmlError(
            f"stage {stage.name} has {len(todo)} unit(s) to compute (first: "
            f"{unit_name(todo[0])}) but the dataset folder is read-only"
        )
    start = time.perf_counter()
    # torchrun: rank 0 tells ranks > 0 whether a distributed stage runs; it runs in this process
    if distributed.announce(stage, bool(todo)):
        backend = Backend()
    if todo:
        backend.map(functools.partial(_run_unit, stage, ledger, digest), todo, desc=stage.name)
        ledger.describe(key, digest, stage.stage_config(), code_version())
    report.ran = len(todo)
    report.wall_s = time.perf_counter() - start
    log.info("stage %s done in %.1f s", stage.name, report.wall_s)
    return report
