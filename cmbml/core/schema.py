"""Dataclass schemas validating the framework's own configuration.

Physics settings belong to their packages; here only what the framework relies on is checked:
the scenario, the splits, the stage registry and the catalog entries. Each error names the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cmbml.core.errors import ConfigError

__all__ = [
    "CatalogEntrySchema",
    "LocalSystemSchema",
    "ParallelSchema",
    "PipelineSchema",
    "ScenarioSchema",
    "SPLIT_KINDS",
    "SplitSchema",
    "StageSchema",
    "as_number",
    "get_splits",
    "validate_config",
]

VALID_FIELDS = ("I", "IQU")
BACKENDS = ("serial", "processes", "dask", "slurm")
SPLIT_PREFIXES = ("Train", "Valid", "Test")
SPLIT_KINDS = (
    "train",
    "valid",
    "in_distribution",
    "fixed_spectrum",
    "foreground_shift",
    "noise_shift",
    "observation",
)
"""What a split is for: training, validation, or a kind of test split (DESIGN section 7);
``observation`` splits hold real observed maps and no truth."""


@dataclass(frozen=True)
class ScenarioSchema:
    """``scenario`` group: resolution, detectors, map fields and units."""

    name: str
    nside: int
    nside_sky: int
    detectors: list
    map_fields: str
    units: str
    tag: str = ""

    def __post_init__(self) -> None:
        if self.nside < 1 or self.nside & (self.nside - 1):
            raise ConfigError(f"scenario.nside must be a power of 2, got {self.nside}")
        if self.nside_sky < self.nside or self.nside_sky & (self.nside_sky - 1):
            raise ConfigError(
                f"scenario.nside_sky must be a power of 2 >= scenario.nside ({self.nside}), "
                f"got {self.nside_sky}"
            )
        if self.map_fields not in VALID_FIELDS:
            raise ConfigError(f"scenario.map_fields must be one of {VALID_FIELDS}")
        if not self.detectors:
            raise ConfigError("scenario.detectors is empty")


@dataclass(frozen=True)
class SplitSchema:
    """One split (``Train``, ``Valid``, ``Test``, ``TestF1``, ...) of ``n_sims`` simulations.

    ``kind`` says what the split is for (one of :data:`SPLIT_KINDS`; default from the name:
    ``train``, ``valid``, ``in_distribution`` for ``Test*``); ``sim`` holds the split's own
    simulation settings, a partial ``model.sim`` merged over the dataset's when this split is
    simulated (:func:`cmbml.core.splits.split_config`).
    """

    name: str
    n_sims: int
    n_infer_cap: int | None = None
    kind: str | None = None
    sim: dict | None = None

    def __post_init__(self) -> None:
        if not self.name.startswith(SPLIT_PREFIXES):
            raise ConfigError(f"splits.{self.name}: split names start with {SPLIT_PREFIXES}")
        if self.kind is not None and self.kind not in SPLIT_KINDS:
            raise ConfigError(
                f"splits.{self.name}.kind must be one of {SPLIT_KINDS}, got {self.kind!r}"
            )
        if self.n_sims < 0:
            raise ConfigError(f"splits.{self.name}.n_sims must be >= 0, got {self.n_sims}")
        if self.n_infer_cap is not None and self.n_infer_cap < 0:
            raise ConfigError(f"splits.{self.name}.n_infer_cap must be >= 0")

    @property
    def split_kind(self) -> str:
        """``kind``, or the default of the name (``train``, ``valid``, ``in_distribution``)."""
        if self.kind is not None:
            return self.kind
        defaults = {"Train": "train", "Valid": "valid"}
        return defaults.get(self.name[:5], "in_distribution")

    @property
    def n_infer(self) -> int:
        """Number of simulations used for inference (the cap, if any)."""
        return self.n_sims if self.n_infer_cap is None else min(self.n_sims, self.n_infer_cap)


@dataclass(frozen=True)
class PipelineSchema:
    """``pipeline``: the stages to run and how (narrowing, recomputation, the dataset lock)."""

    stages: list
    only: list | None = None
    from_stage: str | None = None
    force: bool = False
    verify: bool = False
    lock_wait_s: float | None = None

    def __post_init__(self) -> None:
        if self.lock_wait_s is not None and self.lock_wait_s < 0:
            raise ConfigError(f"pipeline.lock_wait_s must be >= 0 or null, got {self.lock_wait_s}")


@dataclass(frozen=True)
class ParallelSchema:
    """``parallel``: the backend mapping per-simulation work and its size."""

    backend: str
    n_workers: int = 1
    threads_per_worker: int = 1

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"parallel.backend must be one of {BACKENDS}, got '{self.backend}'")
        for key in ("n_workers", "threads_per_worker"):
            if getattr(self, key) < 1:
                raise ConfigError(f"parallel.{key} must be >= 1, got {getattr(self, key)}")


@dataclass(frozen=True)
class LocalSystemSchema:
    """``local_system``: where datasets, assets and run logs live."""

    datasets_root: str
    assets_dir: str
    logs_root: str | None = None


@dataclass(frozen=True)
class StageSchema:
    """A stage-registry entry: the class and optional per-stage settings."""

    name: str
    target: str
    settings: dict


@dataclass(frozen=True)
class CatalogEntrySchema:
    """A catalog entry: a path template and a handler name."""

    name: str
    path: str
    handler: str
    options: dict | None = None


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    names.update({list: "a list", dict: "a mapping"})
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _accepts(tp: Any, value: Any) -> bool:
    """Whether ``value`` fits annotation ``tp`` (``int``, ``float``, ``X | None``, ...)."""
    if tp is Any:
        return True
    options = typing.get_args(tp) if isinstance(tp, types.UnionType) else (tp,)
    for option in options:
        if option is type(None) and value is None:
            return True
        if option is bool and isinstance(value, bool):
            return True
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if option in (str, list, dict) and isinstance(value, option):
            return True
    return False


def as_number(value: Any, key: str, kind: type = float) -> float | int:
    """``value`` of config key ``key`` as a ``kind`` (``float`` or ``int``).

    Raises
    ------
    ConfigError
        ``value`` is not a number of that kind (``abc``, ``2.5`` for an integer, ``true``);
        the message names ``key``.
    """
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        number = kind(value)
        if isinstance(value, float) and number != value:
            raise ValueError(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be {_type_name(kind)}, got {value!r}") from None
    return number


def check_types(schema: type, key: str, values: dict) -> None:
    """Raise :class:`ConfigError` naming ``key.<field>`` when a value has the wrong type."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        if f.name in values and not _accepts(hints[f.name], values[f.name]):
            options = typing.get_args(hints[f.name]) or (hints[f.name],)
            expected = " or ".join("null" if o is type(None) else _type_name(o) for o in options)
            raise ConfigError(f"{key}.{f.name} must be {expected}, got {values[f.name]!r}")


def _build(schema: type, key: str, node: Any, **extra: Any):
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{key} must be a mapping, got {node!r}")
    try:
        values = OmegaConf.to_container(node, resolve=True)
    except Exception as exc:  # an interpolation that cannot resolve
        raise ConfigError(f"{key}: {exc}") from exc
    names = {f.name for f in dataclasses.fields(schema)}
    values = {k: v for k, v in values.items() if k in names}
    values.update(extra)
    missing = [
        f.name
        for f in dataclasses.fields(schema)
        if f.name not in values and f.default is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{key} is missing required key(s): {', '.join(missing)}")
    check_types(schema, key, values)
    try:
        return schema(**values)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def get_splits(cfg: DictConfig) -> list[SplitSchema]:
    """The splits of ``cfg.splits`` in declaration order (every key but ``name``)."""
    return [
        _build(SplitSchema, f"splits.{name}", node, name=name)
        for name, node in cfg.splits.items()
        if name != "name"
    ]


def validate_config(cfg: DictConfig) -> None:
    """Validate the framework keys of a composed config; raise :class:`ConfigError` naming keys."""
    for key in (
        "dataset_name",
        "local_system",
        "scenario",
        "splits",
        "catalog",
        "stages",
        "pipeline",
        "parallel",
    ):
        if key not in cfg:
            raise ConfigError(f"config has no '{key}' key")
    if "methods" in cfg:
        raise ConfigError(
            "config has a top-level 'methods' key: a method package's methods/<name>.yaml must "
            "start with '# @package _global_' (docs/adding-a-method.md)"
        )
    seed = OmegaConf.select(cfg, "seed")
    if not _accepts(int, seed):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    _build(LocalSystemSchema, "local_system", cfg.local_system)
    _build(ScenarioSchema, "scenario", cfg.scenario)
    get_splits(cfg)
    _build(PipelineSchema, "pipeline", cfg.pipeline)
    _build(ParallelSchema, "parallel", cfg.parallel)
    for name, node in cfg.catalog.items():
        _build(CatalogEntrySchema, f"catalog.{name}", node, name=name)
    for name, node in cfg.stages.items():
        if "_target_" not in node:
            raise ConfigError(f"stages.{name} has no _target_ (the stage class)")
