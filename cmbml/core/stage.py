"""The Stage base class (executor) every pipeline step derives from.

A stage declares the catalog entries it reads (``inputs``) and writes (``outputs``) and the config
subtrees that define its results (``config_keys``). Per-simulation stages implement
``process_sim(split, sim)``, which the pipeline runner maps over splits x simulations through the
parallel backend; other stages implement ``run()``.

Every file a unit reads through :meth:`Stage.read` or declares with :meth:`Stage.asset` (an
external file: instrument table, Planck map, chain, PySM data) and every file it writes through
:meth:`Stage.write` is recorded with its fingerprint; the runner keeps them in the unit's manifest
(:mod:`cmbml.core.provenance`), so a changed input recomputes exactly the units that read it.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from omegaconf import DictConfig, OmegaConf

from cmbml.core import provenance
from cmbml.core.catalog import Catalog, placeholders
from cmbml.core.config import REPO_ROOT
from cmbml.core.errors import ConfigError, MissingInputError
from cmbml.core.manifests import unit_name
from cmbml.core.numeric import numeric_state
from cmbml.core.schema import get_splits
from cmbml.core.seeds import make_rng, stable_seed
from cmbml.core.splits import split_settings

__all__ = ["Stage"]


class _ReadCache:
    """Per-process cache of read files, least recently used first out, within a byte budget."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, path: Path, options: dict, read: Callable[..., Any]) -> Any:
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns, json.dumps(options, sort_keys=True))
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        data = read(path, **options)
        if isinstance(data, np.ndarray):
            data.setflags(write=False)
        self.items[key] = data
        while len(self.items) > 1 and sum(_nbytes(v) for v in self.items.values()) > self.max_bytes:
            self.items.popitem(last=False)
        return data


def _nbytes(value: Any) -> int:
    return int(getattr(value, "nbytes", 0))


_READ_CACHE = _ReadCache(int(os.environ.get("CMBML_READ_CACHE_MB", "1024")) << 20)


class Stage:
    """Base class of pipeline stages.

    Parameters
    ----------
    cfg : DictConfig
        The full composed configuration.
    name : str, optional
        Registry name (defaults to the class attribute ``name``).
    settings : mapping, optional
        The stage-registry entry (``cfg.stages.<name>``) minus ``_target_``: may override
        ``splits``, ``infer`` and ``working`` and carry stage-specific values.
    producers : dict, optional
        Catalog name -> ``[(stage name, working dir), ...]`` of the stages that write it (for
        error messages; the one with this stage's working dir is named first).
    catalog : Catalog, optional
        The catalog of ``cfg`` (built from it when not given).
    """

    name: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    config_keys: ClassVar[tuple[str, ...]] = ()
    per_sim: ClassVar[bool] = True
    splits: ClassVar[tuple[str, ...] | None] = None
    infer: ClassVar[bool] = False
    #: Whole-dataset stages whose result depends on which simulations exist (training, summaries)
    #: set this, so that growing a split recomputes them.
    covers_units: ClassVar[bool] = False
    #: Stages that also process observation-only splits (``kind: observation``: real maps, no
    #: simulation, no truth), such as a method's prediction; others skip them.
    observations: ClassVar[bool] = False
    #: Stages whose work every rank of a ``torchrun`` launch shares (data-parallel training):
    #: see :mod:`cmbml.core.distributed`.
    distributed: ClassVar[bool] = False

    def __init__(
        self,
        cfg: DictConfig,
        name: str | None = None,
        settings: dict | None = None,
        producers: dict[str, list[tuple[str, str | None]]] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name or type(self).name
        self.settings = dict(settings or {})
        self.producers = dict(producers or {})
        self.catalog = Catalog.from_config(cfg) if catalog is None else catalog
        self.working = self.settings.get("working")
        if "splits" in self.settings and self.settings["splits"] is not None:
            self.splits = tuple(self.settings["splits"])
        if "infer" in self.settings:
            self.infer = bool(self.settings["infer"])
        self.written: list[Path] = []
        self.read_paths: dict[Path, None] = {}
        self.log = logging.getLogger(f"cmbml.stage.{self.name}")

    # -- work ------------------------------------------------------------------------------
    def process_sim(self, split: str, sim: int) -> None:
        """Produce this stage's outputs for one simulation (per-simulation stages)."""
        raise NotImplementedError(f"stage '{self.name}' must implement process_sim or run")

    def run(self) -> None:
        """Produce this stage's outputs (stages with ``per_sim = False``)."""
        raise NotImplementedError(f"stage '{self.name}' must implement run")

    def check_up_to_date(self, unit: tuple[str, int] | None) -> None:
        """Called by the runner for a unit its manifest says is up to date, before skipping it:
        stages whose inputs carry their own provenance (predictions) raise here when an input
        is no longer current. The default checks nothing."""

    def units(self) -> Iterator[tuple[str, int]]:
        """(split, sim) pairs this stage processes, in order."""
        for split in get_splits(self.cfg):
            if self.splits is not None and not split.name.startswith(tuple(self.splits)):
                continue
            if split.split_kind == "observation" and not self.observations:
                continue
            for sim in range(split.n_infer if self.infer else split.n_sims):
                yield split.name, sim

    # -- catalog access ----------------------------------------------------------------------
    def path(self, name: str, /, **values: Any) -> Path:
        """Resolve catalog entry ``name``; ``{working}`` defaults to this stage's working dir."""
        if self.working is not None and "working" not in values:
            if "working" in placeholders(self.catalog.entry(name).path):
                values["working"] = self.working
        return self.catalog.path(name, **values)

    def exists(self, name: str, /, **values: Any) -> bool:
        """Whether the file of catalog entry ``name`` exists."""
        return self.path(name, **values).exists()

    def working_dir(self) -> str | None:
        """The working folder this stage reads and writes (fills ``{working}``)."""
        return self.working

    def manifest_scope(self) -> str | None:
        """What tells this stage's units apart from the same stage writing elsewhere (another
        method's working folder, another protocol): part of its manifests' path. Default: the
        working folder."""
        return self.working_dir()

    def manifest_key(self) -> str:
        """``name`` or ``name/scope``: the folder of this stage's unit manifests."""
        scope = self.manifest_scope()
        return self.name if not scope else f"{self.name}/{scope}"

    def producer_of(self, name: str, working: str | None = None) -> str | None:
        """The stage writing catalog entry ``name`` (in folder ``working`` when several do)."""
        candidates = self.producers.get(name, [])
        for stage, where in candidates:
            if where == (working or self.working_dir()):
                return stage
        return candidates[0][0] if candidates else None

    def require(self, name: str, /, **values: Any) -> Path:
        """Path of input ``name``, recorded as read by this unit (for files opened directly).

        Raises
        ------
        MissingInputError
            The file does not exist; the message names it and the stage that produces it.
        """
        path = self.path(name, **values)
        if not path.is_file():
            producer = self.producer_of(name, values.get("working"))
            hint = (
                f"it is written by stage '{producer}' (run that stage first)"
                if producer
                else "no configured stage writes it; provide the file"
            )
            raise MissingInputError(
                f"stage '{self.name}' needs '{name}' at {path}, which does not exist; {hint}"
            )
        self.read_paths[path] = None
        return path

    def read(
        self, name: str, /, *, options: dict | None = None, cached: bool = False, **values: Any
    ) -> Any:
        """Read catalog entry ``name`` with its handler (``options`` go to the handler).

        With ``cached=True`` the result is kept in this process (keyed by the file's path, size
        and mtime) for the next units that read the same file, e.g. a dataset's foreground or
        noise maps read for every simulation; cached arrays are read-only.

        Raises
        ------
        MissingInputError
            The file does not exist; the message names it and the stage that produces it.
        """
        path = self.require(name, **values)
        handler_opts = {**self.catalog.entry(name).options, **(options or {})}
        if not cached:
            return self.catalog.handler(name).read(path, **handler_opts)
        return _READ_CACHE.get(path, handler_opts, self.catalog.handler(name).read)

    def asset(self, path: Path | str, *, hint: str | None = None) -> Path:
        """Declare an external file this unit reads (it becomes part of the unit's provenance).

        Parameters
        ----------
        path : Path or str
            The file (instrument table, Planck map, chain file, mask, PySM template ...).
        hint : str, optional
            How to obtain it (``"python get_data/get_planck_assets.py --only nilc"``), used in
            the error when it is missing.

        Returns
        -------
        Path
            ``path``, so that ``read_planck_map(self.asset(p))`` reads and records at once.

        Raises
        ------
        MissingInputError
            The file does not exist; the message names it, this stage and the hint.
        """
        path = Path(path)
        if not path.is_file():
            how = f"; {hint}" if hint else ""
            raise MissingInputError(f"stage '{self.name}' needs {path}, which does not exist{how}")
        self.read_paths[path] = None
        return path

    def write(self, name: str, data: Any, /, *, options: dict | None = None, **values: Any):
        """Write ``data`` to catalog entry ``name`` atomically; returns the path."""
        path = self.path(name, **values)
        handler_opts = {**self.catalog.entry(name).options, **(options or {})}
        self.written.extend(self.catalog.handler(name).write(path, data, **handler_opts))
        return path

    # -- helpers -----------------------------------------------------------------------------
    def rng(
        self, split: str | None, sim: int | None, component: str, detector: object = None
    ) -> np.random.Generator:
        """Generator seeded from (seed, dataset, split, sim, component, detector)."""
        return make_rng(int(self.cfg.seed), self.cfg.dataset_name, split, sim, component, detector)

    def numeric_state(self, unit: tuple[str, int] | None):
        """Context in which ``unit`` runs: the numeric state of a fresh process (threads, global
        generators seeded from (seed, dataset, stage, unit), torch defaults), whatever ran
        before; see :func:`cmbml.core.numeric.numeric_state`."""
        seed = stable_seed(int(self.cfg.seed), self.cfg.dataset_name, self.name, unit_name(unit))
        return numeric_state(seed)

    def rerun_hint(self, stage: str) -> str:
        """The command that reruns stage ``stage``: the script of the first task listing it
        (``python main_pyilc_predict.py``), else ``main_all.py`` narrowed to it."""
        tasks = OmegaConf.select(self.cfg, "pipeline.tasks", default=None) or {}
        for task, names in tasks.items():
            if task != "all" and stage in names and (REPO_ROOT / f"main_{task}.py").is_file():
                return f"python main_{task}.py"
        return f'python main_all.py "pipeline.only=[{stage}]"'

    def stage_config(self) -> dict:
        """The resolved config subtrees of ``config_keys``, the stage settings and, where splits
        have simulation settings of their own under ``config_keys``, those
        (:func:`cmbml.core.splits.split_settings`)."""
        config = {key: _select(self.cfg, key, self.name) for key in self.config_keys}
        out = {"seed": int(self.cfg.seed), "settings": self.settings, "config": config}
        per_split = split_settings(self.cfg, tuple(self.config_keys))
        if per_split:
            out["split_settings"] = per_split
        return out

    def config_hash(self) -> str:
        """Hash of what defines this stage's results besides its input files: its class, config
        (:meth:`stage_config`) and, for ``covers_units`` stages, the (split, sim) units.

        Paths in the config count relative to the dataset, assets, PySM3 data and checkout
        folders (:meth:`cmbml.core.Catalog.path_codec`), so a moved checkout or assets folder,
        or a second checkout on the same dataset, finds the same hashes."""
        config = self.catalog.path_codec().portable(self.stage_config())
        parts = [
            f"{type(self).__module__}.{type(self).__qualname__}",
            json.dumps(config, sort_keys=True, default=str),
        ]
        if self.covers_units:
            parts.append(json.dumps(list(self.units())))
        return provenance.combine(parts)

    def resume_key(self, paths: Iterable[Path | str]) -> str:
        """A key for resuming long work (training) inside a unit: equal only for the same
        config hash and the same content of ``paths`` (the files the work reads)."""
        digests = (provenance.fingerprint(Path(p)).digest for p in paths)
        return provenance.combine([self.config_hash(), *digests])


def _select(cfg: DictConfig, key: str, stage: str) -> Any:
    node = OmegaConf.select(cfg, key, throw_on_missing=True, default="\x00missing")
    if isinstance(node, str) and node == "\x00missing":
        raise ConfigError(f"stage '{stage}' depends on config key '{key}', which does not exist")
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node
