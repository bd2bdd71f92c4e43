"""The base of the PatchNN stages: settings ``model.patchnn``, its network and its layout."""

from __future__ import annotations

import numpy as np
from hydra.utils import instantiate
from torch import nn

from cmbml.core import ConfigError
from cmbml.nn.stack_stages import StackStage
from cmbml.patchnn.patches import patches_to_sphere

__all__ = ["METHOD", "PatchnnStage"]

#: The method's name: its settings are ``model.patchnn``, its seeds are drawn under it.
METHOD = "patchnn"


class PatchnnStage(StackStage):
    """A PatchNN stage (settings ``model.patchnn``; items: patches ``(n_patches, c, p, p)``)."""

    method = METHOD

    def build_network(self, in_channels: int) -> nn.Module:
        """Instantiate ``model.<method>.network`` with ``in_channels`` inputs (``model.patchnn``
        here; a method built on these stages sets another ``method``).

        Raises
        ------
        ConfigError
            ``model.<method>.nside_patch`` does not cut ``scenario.nside`` maps, or the network
            does not take patches of that side (its ``check_input_size`` raises ValueError).
        """
        settings, key = self.model, f"model.{self.method}"
        nside, side = int(self.cfg.scenario.nside), int(settings.nside_patch)
        if side < 1 or side & (side - 1) or side > nside:
            raise ConfigError(
                f"{key}.nside_patch={side} must be a power of 2 <= scenario.nside={nside}"
            )
        network = instantiate(settings.network, in_channels=int(in_channels))
        try:
            network.check_input_size(side)
        except ValueError as exc:
            raise ConfigError(
                f"{key}.network does not fit {key}.nside_patch={side}: {exc}"
            ) from exc
        return network

    def to_sphere(self, items: np.ndarray) -> np.ndarray:
        """RING maps ``(n, npix)`` of patches ``(n_patches, n, p, p)``."""
        return patches_to_sphere(items)
