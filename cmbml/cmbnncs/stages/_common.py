"""Helpers shared by the CMBNNCS stages: the stage base, its network and its settings.

CMBNNCS cleans each Stokes field with its own network (:mod:`cmbml.nn.fields`); its settings
are ``model.cmbnncs``.
"""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from cmbml.cmbnncs.unet import UNet
from cmbml.core import ConfigError
from cmbml.nn import fields as nn_fields
from cmbml.nn.fields import (
    STOKES,
    NetworkStage,
    existing_paths,
    polarised_detectors,
    product,
    read_channels,
    read_stokes,
    split_sims,
)

__all__ = [
    "METHOD",
    "STOKES",
    "CmbnncsStage",
    "build_network",
    "checkpoint_epochs",
    "existing_paths",
    "polarised_detectors",
    "product",
    "read_channels",
    "read_stokes",
    "seed_for",
    "split_sims",
    "stokes_fields",
    "use_epochs",
]

#: The method's name: its settings are ``model.cmbnncs``, its seeds are drawn under it.
METHOD = "cmbnncs"


class CmbnncsStage(NetworkStage):
    """A CMBNNCS stage (settings ``model.cmbnncs``)."""

    method = METHOD


def stokes_fields(cfg: DictConfig) -> list[str]:
    """The Stokes fields CMBNNCS cleans (:func:`cmbml.nn.fields.stokes_fields`)."""
    return nn_fields.stokes_fields(cfg, METHOD)


def checkpoint_epochs(cfg: DictConfig) -> list[int]:
    """Epochs after which the train stage writes a checkpoint (0 and num_epochs included)."""
    return nn_fields.checkpoint_epochs(cfg.model.cmbnncs)


def use_epochs(cfg: DictConfig) -> list[int]:
    """Checkpoint epochs used for prediction (``model.cmbnncs.use_epochs``)."""
    return nn_fields.use_epochs(cfg, METHOD)


def seed_for(cfg: DictConfig, purpose: str, field: str = "I") -> int:
    """A stable 63-bit seed for one CMBNNCS random purpose (weights, shuffling) of the network
    of Stokes ``field`` (the intensity's seeds are those of a temperature-only dataset)."""
    return nn_fields.seed_for(cfg, METHOD, purpose, field)


def build_network(cfg: DictConfig, in_channels: int | None = None) -> UNet:
    """Instantiate ``model.cmbnncs.network`` with ``in_channels`` inputs (default: one per
    detector of ``model.cmbnncs.detectors``, the intensity network's inputs).

    Raises
    ------
    ConfigError
        The network cannot halve the planes of ``scenario.nside`` at every level.
    """
    mc = cfg.model.cmbnncs
    if in_channels is None:
        in_channels = len(mc.detectors)
    network = instantiate(mc.network, in_channels=int(in_channels))
    nside = int(cfg.scenario.nside)
    try:
        network.check_input_size(4 * nside, 3 * nside)
    except ValueError as exc:
        raise ConfigError(
            f"model.cmbnncs.network ({mc.network._target_}) does not fit scenario.nside={nside}: "
            f"{exc}"
        ) from exc
    return network
