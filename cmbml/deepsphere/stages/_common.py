"""The base of the DeepSphere stages: settings ``model.deepsphere``, its network, its layout."""

from __future__ import annotations

from cmbml.nn.stack_stages import NestStage

__all__ = ["METHOD", "DeepsphereStage"]

#: The method's name: its settings are ``model.deepsphere``, its seeds are drawn under it.
METHOD = "deepsphere"


class DeepsphereStage(NestStage):
    """A DeepSphere stage (settings ``model.deepsphere``; items: one NEST stack per sim)."""

    method = METHOD
