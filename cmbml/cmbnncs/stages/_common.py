"""Helpers shared by the CMBNNCS stages (config -> simulations, network, epochs, seeds)."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cmbml.cmbnncs.unet import UNet
from cmbml.core import ConfigError, Stage, get_splits, stable_seed

__all__ = [
    "build_network",
    "checkpoint_epochs",
    "existing_paths",
    "map_read_options",
    "seed_for",
    "split_sims",
    "use_epochs",
]


def split_sims(cfg: DictConfig, prefix: str) -> list[tuple[str, int]]:
    """(split, sim) pairs of every split whose name starts with ``prefix`` (e.g. ``"Train"``)."""
    return [
        (split.name, sim)
        for split in get_splits(cfg)
        if split.name.startswith(prefix)
        for sim in range(split.n_sims)
    ]


def map_read_options(cfg: DictConfig) -> dict:
    """Handler options of the CMBNNCS map reads: temperature, the scenario's nside, uK_CMB."""
    return {"field": 0, "nside": int(cfg.scenario.nside), "unit": "uK_CMB"}


def existing_paths(stage: Stage, name: str, sims: list[tuple[str, int]]) -> list[Path]:
    """Paths of catalog entry ``name`` for each (split, sim); all must exist, and each is
    recorded as an input of the stage's unit (the files are opened directly, memory-mapped).

    Raises
    ------
    MissingInputError
        A file is missing; the message names it and the stage that writes it.
    """
    return [stage.require(name, split=split, sim=sim) for split, sim in sims]


def build_network(cfg: DictConfig) -> UNet:
    """Instantiate ``model.cmbnncs.network`` with one input channel per detector.

    Raises
    ------
    ConfigError
        The network cannot halve the planes of ``scenario.nside`` at every level.
    """
    mc = cfg.model.cmbnncs
    network = instantiate(mc.network, in_channels=len(mc.detectors))
    nside = int(cfg.scenario.nside)
    try:
        network.check_input_size(4 * nside, 3 * nside)
    except ValueError as exc:
        raise ConfigError(
            f"model.cmbnncs.network ({mc.network._target_}) does not fit scenario.nside={nside}: "
            f"{exc}"
        ) from exc
    return network


def checkpoint_epochs(cfg: DictConfig) -> list[int]:
    """Epochs after which the train stage writes a checkpoint (0 and num_epochs included)."""
    mc = cfg.model.cmbnncs
    n = int(mc.num_epochs)
    every = int(mc.checkpoint_every or 0)
    epochs = {0, n} | {int(e) for e in mc.checkpoint_epochs if 0 < int(e) <= n}
    if every > 0:
        epochs |= set(range(every, n + 1, every))
    return sorted(epochs)


def use_epochs(cfg: DictConfig) -> list[int]:
    """Checkpoint epochs used for prediction (``model.cmbnncs.use_epochs``).

    Raises
    ------
    ConfigError
        The list is empty or names an epoch the training does not checkpoint (a file from
        another run could be there).
    """
    epochs = [int(e) for e in OmegaConf.to_container(cfg.model.cmbnncs.use_epochs, resolve=True)]
    if not epochs:
        raise ConfigError("model.cmbnncs.use_epochs is empty: name at least one epoch")
    written = checkpoint_epochs(cfg)
    unknown = [e for e in epochs if e not in written]
    if unknown:
        raise ConfigError(
            f"model.cmbnncs.use_epochs names epoch(s) {unknown}, which the training does not "
            f"checkpoint (checkpoint epochs: {written}; see model.cmbnncs.checkpoint_every and "
            "checkpoint_epochs)"
        )
    return epochs


def seed_for(cfg: DictConfig, purpose: str) -> int:
    """A stable 63-bit seed for one CMBNNCS random purpose (weights, shuffling)."""
    return stable_seed(int(cfg.seed), cfg.dataset_name, "cmbnncs", purpose) % 2**63
