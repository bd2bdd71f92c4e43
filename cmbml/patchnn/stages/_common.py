"""Helpers shared by the PatchNN stages: the stage base and its network (settings
``model.patchnn``)."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from cmbml.core import ConfigError
from cmbml.nn.fields import NetworkStage
from cmbml.patchnn.unet import PatchUNet

__all__ = ["METHOD", "PatchnnStage", "build_network"]

#: The method's name: its settings are ``model.patchnn``, its seeds are drawn under it.
METHOD = "patchnn"


class PatchnnStage(NetworkStage):
    """A PatchNN stage (settings ``model.patchnn``)."""

    method = METHOD


def build_network(cfg: DictConfig, in_channels: int) -> PatchUNet:
    """Instantiate ``model.patchnn.network`` with ``in_channels`` inputs.

    Raises
    ------
    ConfigError
        ``model.patchnn.nside_patch`` does not cut ``scenario.nside`` maps, or the network
        cannot halve its patches at every level.
    """
    settings = cfg.model.patchnn
    nside, side = int(cfg.scenario.nside), int(settings.nside_patch)
    if side < 1 or side & (side - 1) or side > nside:
        raise ConfigError(
            f"model.patchnn.nside_patch={side} must be a power of 2 <= scenario.nside={nside}"
        )
    network = instantiate(settings.network, in_channels=int(in_channels))
    try:
        network.check_input_size(side)
    except ValueError as exc:
        raise ConfigError(
            f"model.patchnn.network does not fit model.patchnn.nside_patch={side}: {exc}"
        ) from exc
    return network
