"""A network method for notebook F, built on the PatchNN template: PatchCNN.

PatchCNN keeps everything of PatchNN (:mod:`cmbml.patchnn`) but its network: the sphere is cut
into the same square HEALPix patches (:func:`cmbml.patchnn.sphere_to_patches`), scaled, trained
on, predicted and reassembled by the same five stages, which run on the shared network core
:mod:`cmbml.nn` (training with exact resume, Monte-Carlo dropout and its Valid calibration).
Its network, :class:`PatchCNN`, is a small fully convolutional one that never changes the
resolution: a 1x1 convolution mixing the frequency channels pixel by pixel (like the weights
of an ILC), residual blocks of 3x3 convolutions for the spatial structure, and a 1x1
convolution to the CMB.

A stage of it is a PatchNN stage with another ``method``: that name selects the settings
(``model.patchcnn``), the catalog entries (``patchcnn_obs``, ``patchcnn_checkpoint``, ...) and
the random seeds. Each stage re-declares what it reads and writes and which settings define its
result, with the helpers PatchNN's stages use. ``F_adding_a_network_method.ipynb`` puts this
module in a package (``cmbml_patchcnn``, entry point ``cmbml.methods``), installs it with pip
and runs it end to end (``docs/adding-a-method.md``).
"""

from __future__ import annotations

import torch
from torch import nn

from cmbml.nn.scale_stage import scale_config_keys
from cmbml.nn.stack_stages import TRAIN_KEYS, entries, predict_declarations
from cmbml.patchnn.stages.postprocess import PatchnnPostprocess
from cmbml.patchnn.stages.predict import PatchnnPredict
from cmbml.patchnn.stages.preprocess import PatchnnPreprocess
from cmbml.patchnn.stages.scale import PatchnnScale
from cmbml.patchnn.stages.train import PatchnnTrain

__all__ = [
    "METHOD",
    "PatchCNN",
    "PatchcnnPostprocess",
    "PatchcnnPredict",
    "PatchcnnPreprocess",
    "PatchcnnScale",
    "PatchcnnTrain",
]

#: The method's name: its settings ``model.patchcnn``, its catalog entries ``patchcnn_*``.
METHOD = "patchcnn"


class _Residual(nn.Module):
    """``x + conv(relu(conv(x)))`` with 3x3 convolutions that keep the patch size."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class PatchCNN(nn.Module):
    """A fully convolutional network on patches ``(batch, in_channels, p, p)``, any ``p``.

    The output is one map, ``(batch, 1, p, p)``: the (scaled) CMB.

    Parameters
    ----------
    in_channels : int
        Input maps (detectors).
    features : int, optional
        Channels after the 1x1 channel-mixing convolution.
    depth : int, optional
        Residual blocks of two 3x3 convolutions.
    dropout : float, optional
        Dropout probability before the output convolution (0: none); it lets
        :func:`cmbml.nn.uncertainty.mc_predict` sample predictions (``model.patchcnn.mc_samples``).
    """

    def __init__(
        self, in_channels: int, features: int = 16, depth: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if min(in_channels, features) < 1 or depth < 0:
            raise ValueError(
                "PatchCNN needs in_channels >= 1, features >= 1 and depth >= 0, got "
                f"{in_channels}, {features}, {depth}"
            )
        self.mix = nn.Sequential(nn.Conv2d(int(in_channels), int(features), 1), nn.ReLU())
        self.blocks = nn.Sequential(*(_Residual(int(features)) for _ in range(int(depth))))
        self.dropout = nn.Dropout(float(dropout)) if dropout > 0 else nn.Identity()
        self.out = nn.Conv2d(int(features), 1, 1)

    def check_input_size(self, side: int) -> None:
        """Raise ValueError unless ``side`` is a patch side (PatchNN's stages ask any network
        they build; this one takes every size)."""
        if side < 1:
            raise ValueError(f"PatchCNN needs patches of at least 1 pixel, got side {side}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, p, p)`` to ``(batch, 1, p, p)``."""
        return self.out(self.dropout(self.blocks(self.mix(x))))


class PatchcnnScale(PatchnnScale):
    """Stage patchcnn_scale: PatchNN's scale factors, from ``model.patchcnn``; writes
    ``patchcnn_scale`` (/ ``_pol``)."""

    method = METHOD
    name = "patchcnn_scale"
    outputs = entries(METHOD, "scale")
    config_keys = scale_config_keys(METHOD)["config_keys"]
    pol_config_keys = scale_config_keys(METHOD)["pol_config_keys"]


class PatchcnnPreprocess(PatchnnPreprocess):
    """Stage patchcnn_preprocess: PatchNN's patches of the scaled maps (``nside_patch``);
    writes ``patchcnn_obs`` and ``patchcnn_cmb`` (/ ``_pol``)."""

    method = METHOD
    name = "patchcnn_preprocess"
    inputs = (*entries(METHOD, "scale"), "obs_map", "cmb_map")
    outputs = entries(METHOD, "obs", "cmb")
    config_keys = ("scenario.nside", *(f"model.{METHOD}.{k}" for k in ("detectors", "nside_patch")))
    obs_entry = f"{METHOD}_obs"
    cmb_entry = f"{METHOD}_cmb"


class PatchcnnTrain(PatchnnTrain):
    """Stage patchcnn_train: one ``model.patchcnn.network`` per Stokes field trained on the
    Train patches (cmbml.nn's loop); writes ``patchcnn_checkpoint`` and ``patchcnn_train_log``."""

    method = METHOD
    name = "patchcnn_train"
    inputs = entries(METHOD, "obs", "cmb", "checkpoint")
    outputs = entries(METHOD, "checkpoint", "train_log")
    config_keys = tuple(f"model.{METHOD}.{key}" for key in (*TRAIN_KEYS, "nside_patch"))


class PatchcnnPredict(PatchnnPredict):
    """Stage patchcnn_predict: the Test patches predicted by each checkpoint of
    ``model.patchcnn.use_epochs`` (with Monte-Carlo dropout); writes ``patchcnn_pred`` and
    ``patchcnn_sigma``."""

    method = METHOD
    name = "patchcnn_predict"
    inputs, outputs, config_keys = predict_declarations(METHOD, "nside_patch")


class PatchcnnPostprocess(PatchnnPostprocess):
    """Stage patchcnn_postprocess: the predicted patches unscaled and reassembled into
    ``cmb_map_pred`` (and ``cmb_map_sigma``), RING maps in uK_CMB at the scenario's nside."""

    method = METHOD
    name = "patchcnn_postprocess"
    inputs = entries(METHOD, "scale", "pred", "sigma")
    config_keys = tuple(f"model.{METHOD}.{key}" for key in ("use_epochs", "mc_samples"))
