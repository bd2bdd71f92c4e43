"""Dataclass schemas validating the framework's own configuration.

Physics settings belong to their packages; here only what the framework relies on is checked:
the scenario, the splits, the stage registry and the catalog entries. Each error names the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cmbml.core.errors import ConfigError

__all__ = [
    "CatalogEntrySchema",
    "ScenarioSchema",
    "SplitSchema",
    "StageSchema",
    "get_splits",
    "validate_config",
]

VALID_FIELDS = ("I", "IQU")
SPLIT_PREFIXES = ("Train", "Valid", "Test")


@dataclass(frozen=True)
class ScenarioSchema:
    """``scenario`` group: resolution, detectors, map fields and units."""

    name: str
    nside: int
    nside_sky: int
    detectors: list
    map_fields: str
    units: str

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
    """One split (``Train``, ``Valid``, ``Test``, ``Test2``, ...) of ``n_sims`` simulations."""

    name: str
    n_sims: int
    n_infer_cap: int | None = None

    def __post_init__(self) -> None:
        if not self.name.startswith(SPLIT_PREFIXES):
            raise ConfigError(f"splits.{self.name}: split names start with {SPLIT_PREFIXES}")
        if self.n_sims < 0:
            raise ConfigError(f"splits.{self.name}.n_sims must be >= 0, got {self.n_sims}")
        if self.n_infer_cap is not None and self.n_infer_cap < 0:
            raise ConfigError(f"splits.{self.name}.n_infer_cap must be >= 0")

    @property
    def n_infer(self) -> int:
        """Number of simulations used for inference (the cap, if any)."""
        return self.n_sims if self.n_infer_cap is None else min(self.n_sims, self.n_infer_cap)


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


def _build(schema: type, key: str, node: Any, **extra: Any):
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{key} must be a mapping, got {node!r}")
    values = OmegaConf.to_container(node, resolve=True)
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
    _build(ScenarioSchema, "scenario", cfg.scenario)
    get_splits(cfg)
    for name, node in cfg.catalog.items():
        _build(CatalogEntrySchema, f"catalog.{name}", node, name=name)
    for name, node in cfg.stages.items():
        if "_target_" not in node:
            raise ConfigError(f"stages.{name} has no _target_ (the stage class)")
