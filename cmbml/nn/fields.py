"""Helpers shared by the stages of every network method (fields, simulations, epochs, seeds).

A network method ``<method>`` (its settings in ``model.<method>``) cleans each Stokes field
with its own network: ``I`` always, ``Q`` and ``U`` when ``model.<method>.fields`` asks for them
(``auto``: with ``scenario.map_fields=IQU``). The products of the intensity keep the catalog
entries and file names of a temperature-only dataset (``cmbnncs_checkpoint`` ...); those of
``Q`` and ``U`` are the ``*_pol`` entries, whose paths carry ``{field}`` (:func:`product`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from cmbml.core import BadInputError, ConfigError, Stage, get_splits, stable_seed

__all__ = [
    "STOKES",
    "NetworkStage",
    "checkpoint_epochs",
    "existing_paths",
    "map_read_options",
    "polarised_detectors",
    "product",
    "read_channels",
    "read_stokes",
    "seed_for",
    "split_sims",
    "stokes_fields",
    "use_epochs",
]

#: Stokes fields and their index in the I, Q, U HEALPix maps.
STOKES = {"I": 0, "Q": 1, "U": 2}


def stokes_fields(cfg: DictConfig, method: str) -> list[str]:
    """The Stokes fields network method ``method`` cleans: ``["I"]`` or ``["I", "Q", "U"]``.

    ``model.<method>.fields`` is ``auto`` (the scenario's ``map_fields``: ``I`` or ``IQU``) or a
    list: ``[I]`` (temperature only, also on an I, Q, U dataset) or ``[I, Q, U]`` in any order.
    Q and U go together (their E/B content needs both) and with I (the prediction is an I or an
    I, Q, U map).

    Raises
    ------
    ConfigError
        An unknown ``scenario.map_fields`` or ``fields`` value, or Q, U asked for on a
        temperature-only scenario.
    """
    map_fields = str(cfg.scenario.map_fields)
    if map_fields not in ("I", "IQU"):
        raise ConfigError(f"scenario.map_fields must be 'I' or 'IQU', got {map_fields!r}")
    spec = cfg.model[method].get("fields", "auto")
    if OmegaConf.is_config(spec):
        spec = OmegaConf.to_container(spec, resolve=True)
    if spec == "auto":
        return list(map_fields)
    given = sorted(str(f) for f in spec) if isinstance(spec, list) else None
    if given not in (["I"], ["I", "Q", "U"]):
        shown = spec if isinstance(spec, list) else repr(spec)
        raise ConfigError(
            f"model.{method}.fields={shown}: expected 'auto', [I] or [I, Q, U] (Q and U are "
            "cleaned together, with I)"
        )
    fields = [f for f in STOKES if f in given]
    if fields != ["I"] and map_fields != "IQU":
        raise ConfigError(
            f"model.{method}.fields={fields} needs scenario.map_fields=IQU (maps with Q, U), "
            f"got {map_fields!r}"
        )
    return fields


def product(name: str, field: str) -> tuple[str, dict]:
    """Catalog entry and placeholder values of a network's product ``name`` for Stokes ``field``.

    ``("cmbnncs_checkpoint", {})`` for I, ``("cmbnncs_checkpoint_pol", {"field": "Q"})`` for Q.
    """
    return (name, {}) if field == "I" else (f"{name}_pol", {"field": field})


class NetworkStage(Stage):
    """A stage of network method ``method`` (settings ``model.<method>``): config hash and
    field list shared by all of them.

    ``pol_config_keys`` define the results only when Q, U are cleaned. A temperature-only run
    hashes exactly what it hashed before polarisation existed (``config_keys`` alone), so its
    products stay up to date whatever the polarisation settings; with Q, U the resolved field
    list and ``pol_config_keys`` join the hash.
    """

    method: ClassVar[str]
    pol_config_keys: ClassVar[tuple[str, ...]] = ()

    @property
    def model(self) -> DictConfig:
        """The method's settings, ``model.<method>``."""
        return self.cfg.model[self.method]

    def fields(self) -> list[str]:
        """The Stokes fields cleaned (:func:`stokes_fields`)."""
        return stokes_fields(self.cfg, self.method)

    def stage_config(self) -> dict:
        """:meth:`cmbml.core.Stage.stage_config`, plus the fields and ``pol_config_keys`` when
        Q, U are cleaned."""
        config = super().stage_config()
        fields = self.fields()
        if fields != ["I"]:
            config["fields"] = fields
            for key in self.pol_config_keys:
                node = OmegaConf.select(self.cfg, key)
                if OmegaConf.is_config(node):
                    node = OmegaConf.to_container(node, resolve=True)
                config["config"][key] = node
        return config


def polarised_detectors(stage: NetworkStage) -> list[int]:
    """``model.<method>.detectors`` that measure Q and U (``has_pol`` in the instrument table).

    The table (``model.sim.instrument.table``) is recorded as an input of the unit.

    Raises
    ------
    BadInputError
        The table lacks a ``band`` or ``has_pol`` column.
    ConfigError
        None of the detectors measures Q, U.
    """
    cfg = stage.cfg
    path = stage.asset(cfg.model.sim.instrument.table, hint="set model.sim.instrument.table")
    table = pd.read_csv(path)
    absent = [c for c in ("band", "has_pol") if c not in table.columns]
    if absent:
        raise BadInputError(f"detector table {path} lacks column(s) {absent}")
    polarised = set(table.loc[table["has_pol"].astype(bool), "band"].astype(int))
    detectors = [int(det) for det in stage.model.detectors]
    chosen = [det for det in detectors if det in polarised]
    if not chosen:
        raise ConfigError(
            f"Q, U asked for (model.{stage.method}.fields) but none of "
            f"model.{stage.method}.detectors "
            f"{detectors} measures them (has_pol in {path})"
        )
    return chosen


def split_sims(cfg: DictConfig, prefix: str) -> list[tuple[str, int]]:
    """(split, sim) pairs of every split whose name starts with ``prefix`` (e.g. ``"Train"``)."""
    return [
        (split.name, sim)
        for split in get_splits(cfg)
        if split.name.startswith(prefix)
        for sim in range(split.n_sims)
    ]


def map_read_options(cfg: DictConfig, field: int | None = 0) -> dict:
    """Handler options of the networks' map reads: Stokes ``field`` (index; None: all), the
    scenario's nside, uK_CMB."""
    return {"field": field, "nside": int(cfg.scenario.nside), "unit": "uK_CMB"}


def read_stokes(stage: Stage, name: str, indices: list[int], **values: object) -> np.ndarray:
    """Stokes fields ``indices`` of map ``name`` (catalog values ``values``), ``(n, npix)``.

    The intensity alone is read as field 0 (any map); Q or U need an I, Q, U map.

    Raises
    ------
    BadInputError
        Q or U asked for and the file does not hold three fields; the message names it.
    """
    if list(indices) == [0]:
        return stage.read(name, options=map_read_options(stage.cfg, 0), **values)[None]
    maps = stage.read(name, options=map_read_options(stage.cfg, None), **values)
    if maps.ndim != 2 or maps.shape[0] != 3:
        raise BadInputError(
            f"{stage.path(name, **values)}: expected I, Q, U maps (the network's fields have "
            f"Q, U), found {1 if maps.ndim == 1 else maps.shape[0]} field(s)"
        )
    return maps[list(indices)]


def read_channels(
    stage: Stage, channels: dict[str, list[int]], **values: object
) -> dict[tuple[str, int], np.ndarray]:
    """Observed maps (``obs_map``, uK_CMB) of every (Stokes field, detector) of ``channels``
    (field -> detectors), each detector's file read once for all the fields it serves.

    Returns
    -------
    dict
        ``(field, detector) -> (npix,)`` map.
    """
    wanted: dict[int, list[str]] = {}  # detector -> the fields it is an input of
    for field, detectors in channels.items():
        for det in detectors:
            wanted.setdefault(int(det), []).append(field)
    maps = {}
    for det, fields in wanted.items():
        stokes = read_stokes(stage, "obs_map", [STOKES[f] for f in fields], freq=det, **values)
        maps.update({(field, det): m for field, m in zip(fields, stokes, strict=True)})
    return maps


def existing_paths(
    stage: Stage, name: str, sims: list[tuple[str, int]], **values: object
) -> list[Path]:
    """Paths of catalog entry ``name`` for each (split, sim); all must exist, and each is
    recorded as an input of the stage's unit (the files are opened directly, memory-mapped).

    Raises
    ------
    MissingInputError
        A file is missing; the message names it and the stage that writes it.
    """
    return [stage.require(name, split=split, sim=sim, **values) for split, sim in sims]


def checkpoint_epochs(settings: DictConfig) -> list[int]:
    """Epochs after which the train stage of a network whose settings are ``settings``
    (``num_epochs``, ``checkpoint_every``, ``checkpoint_epochs``) writes a checkpoint (0 and
    num_epochs included)."""
    mc = settings
    n = int(mc.num_epochs)
    every = int(mc.checkpoint_every or 0)
    epochs = {0, n} | {int(e) for e in mc.checkpoint_epochs if 0 < int(e) <= n}
    if every > 0:
        epochs |= set(range(every, n + 1, every))
    return sorted(epochs)


def use_epochs(cfg: DictConfig, method: str) -> list[int]:
    """Checkpoint epochs used for prediction (``model.<method>.use_epochs``).

    Raises
    ------
    ConfigError
        The list is empty or names an epoch the training does not checkpoint (a file from
        another run could be there).
    """
    settings = cfg.model[method]
    epochs = [int(e) for e in OmegaConf.to_container(settings.use_epochs, resolve=True)]
    if not epochs:
        raise ConfigError(f"model.{method}.use_epochs is empty: name at least one epoch")
    written = checkpoint_epochs(settings)
    unknown = [e for e in epochs if e not in written]
    if unknown:
        raise ConfigError(
            f"model.{method}.use_epochs names epoch(s) {unknown}, which the training does not "
            f"checkpoint (checkpoint epochs: {written}; see model.{method}.checkpoint_every and "
            "checkpoint_epochs)"
        )
    return epochs


def seed_for(cfg: DictConfig, method: str, purpose: str, field: str = "I") -> int:
    """A stable 63-bit seed for one random purpose (weights, shuffling) of network method
    ``method``'s network of Stokes ``field`` (the intensity's seeds are those of a
    temperature-only dataset)."""
    parts = (purpose,) if field == "I" else (purpose, field)
    return stable_seed(int(cfg.seed), cfg.dataset_name, method, *parts) % 2**63
