"""The base of the DeepSphere stages: settings ``model.deepsphere``, its network, its layout."""

from __future__ import annotations

import numpy as np
from hydra.utils import instantiate

from cmbml.core import ConfigError
from cmbml.deepsphere.unet import SphereUNet
from cmbml.nn.nest import nest_to_ring
from cmbml.nn.stack_stages import StackStage

__all__ = ["METHOD", "DeepsphereStage"]

#: The method's name: its settings are ``model.deepsphere``, its seeds are drawn under it.
METHOD = "deepsphere"


class DeepsphereStage(StackStage):
    """A DeepSphere stage (settings ``model.deepsphere``; items: one NEST stack per sim)."""

    method = METHOD

    def build_network(self, in_channels: int) -> SphereUNet:
        """Instantiate ``model.deepsphere.network`` at ``scenario.nside``.

        Raises
        ------
        ConfigError
            The network cannot pool ``scenario.nside`` three times.
        """
        nside = int(self.cfg.scenario.nside)
        try:
            return instantiate(self.model.network, in_channels=int(in_channels), nside=nside)
        except ValueError as exc:
            raise ConfigError(
                f"model.deepsphere.network does not fit scenario.nside={nside}: {exc}"
            ) from exc

    def to_sphere(self, items: np.ndarray) -> np.ndarray:
        """RING maps ``(n, npix)`` of a NEST stack ``(1, n, npix)``."""
        return nest_to_ring(items)
