"""CMBNNCS checkpoints published by CMB-ML, loaded into cmbml's :class:`~cmbml.cmbnncs.UNet`.

CMB-ML saves ``torch.save({"epoch": int, "model_state_dict": ..., "optimizer_state_dict": ...,
...})`` (file ``model_<epoch>.pth``) of cmbNNCS's ``UNet5`` / ``UNet8``. That network names its
levels ``conv1`` ... ``conv<depth>`` (encoder) and ``deconv1`` ... ``deconv<depth>`` (decoder,
deepest first), each an ``nn.Sequential`` numbered from ``0``: the (transposed) convolution,
its ``BatchNorm2d`` and its ``PReLU`` (CMB-ML builds the last decoder level without BatchNorm,
``finalBN: false``). cmbml's UNet holds the same layers in the same order as ``down.<i>`` and
``up.<i>`` (``i`` from 0), with the same paddings (cmbNNCS's ``extra_pad = 0`` rule), skip
concatenations (encoder features first) and activations, so the parameters map one to one:
``conv<n>.<k>.<p>`` -> ``down.<n-1>.<k>.<p>``, ``deconv<n>.<k>.<p>`` -> ``up.<n-1>.<k>.<p>``.

CMB-ML's scaling of the data: every observed map (uK_CMB) divided by ``scale_features = 1``,
the CMB target by ``scale_target = 5`` (predictions are multiplied back by 5);
``model/cmbnncs=paper`` has the same factors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from cmbml.cmbnncs.unet import UNet
from cmbml.core import BadInputError

__all__ = [
    "CMBML_SCALE_FEATURES",
    "CMBML_SCALE_TARGET",
    "load_cmbml_network",
    "load_into",
    "network_from_state",
    "read_cmbml_checkpoint",
    "unet_keys",
]

#: CMB-ML's divisor of every observed input map (cmbnncs_model.yaml ``scale_features``).
CMBML_SCALE_FEATURES = 1.0
#: CMB-ML's divisor of the CMB target (``scale_target``); predictions are multiplied by it.
CMBML_SCALE_TARGET = 5.0

_KEY = re.compile(r"(conv|deconv)([1-9][0-9]*)\.([0-9]+)\.(\w+)")


def unet_keys(state: Mapping[str, torch.Tensor], source: str = "state dict") -> dict:
    """CMB-ML's (cmbNNCS's) state-dict keys renamed to cmbml's UNet keys.

    Parameters
    ----------
    state : mapping
        ``model_state_dict`` of a CMB-ML checkpoint.
    source : str
        Where the state dict comes from, for error messages.

    Returns
    -------
    dict
        The same tensors under ``down.<i>...`` / ``up.<i>...``.

    Raises
    ------
    BadInputError
        A key that is not a level of cmbNNCS's UNet.
    """
    out = {}
    for key, tensor in state.items():
        match = _KEY.fullmatch(key)
        if match is None:
            raise BadInputError(
                f"{source}: key {key!r} is not a layer of cmbNNCS's UNet "
                "(expected conv<n>.<k>.<param> or deconv<n>.<k>.<param>)"
            )
        kind, level, layer, param = match.groups()
        prefix = "down" if kind == "conv" else "up"
        out[f"{prefix}.{int(level) - 1}.{layer}.{param}"] = tensor
    return out


def read_cmbml_checkpoint(path: str | Path) -> tuple[dict, int]:
    """Read a CMB-ML checkpoint file; return its state dict under cmbml's keys and its epoch.

    Raises
    ------
    BadInputError
        Not a readable torch file, or not ``{"epoch", "model_state_dict", ...}``.
    """
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises several types for a file that is not its format
        raise BadInputError(f"{path}: not a PyTorch checkpoint ({err})") from err
    if not isinstance(checkpoint, Mapping) or not {"epoch", "model_state_dict"} <= set(checkpoint):
        found = sorted(checkpoint) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise BadInputError(
            f"{path}: expected CMB-ML's checkpoint {{'epoch', 'model_state_dict', ...}}, "
            f"found {found}"
        )
    return unet_keys(checkpoint["model_state_dict"], str(path)), int(checkpoint["epoch"])


def network_from_state(state: Mapping[str, torch.Tensor], source: str = "state dict") -> UNet:
    """A cmbml UNet shaped like the state dict (``unet_keys`` names), its parameters loaded.

    The depth, input and output maps, channels and (square) kernel sizes are read from the
    convolution weights: ``down.<i>.0.weight`` is ``(c_out, c_in, k, k)``, ``up.<i>.0.weight``
    (transposed) ``(c_in, c_out, k, k)``.

    Raises
    ------
    BadInputError
        Levels missing or not square, or a layer cmbml's UNet does not have
        (:func:`load_into`).
    """
    depth = sum(1 for key in state if re.fullmatch(r"down\.[0-9]+\.0\.weight", key))
    try:
        down = [state[f"down.{i}.0.weight"].shape for i in range(depth)]
        up = [state[f"up.{i}.0.weight"].shape for i in range(depth)]
    except KeyError as err:
        raise BadInputError(
            f"{source}: level {err} missing: conv1..conv{depth} need deconv1..deconv{depth}"
        ) from None
    if depth < 1 or any(len(s) != 4 or s[2] != s[3] for s in (*down, *up)):
        raise BadInputError(f"{source}: expected {depth} levels of square 2-D convolutions")
    network = UNet(
        in_channels=down[0][1],
        out_channels=up[-1][1],
        channels=[s[0] for s in down],
        kernels=[s[2] for s in (*down, *up)],
    )
    return load_into(network, state, source)


def load_into(network: UNet, state: Mapping[str, torch.Tensor], source: str) -> UNet:
    """Load a state dict (cmbml's keys) into ``network``, every tensor and shape checked.

    Raises
    ------
    BadInputError
        Keys missing or unexpected (e.g. a BatchNorm after the last decoder level, which
        cmbml's UNet does not have), or shapes that differ; the message names the layers in
        CMB-ML's terms.
    """
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    shapes = [
        f"{_cmbml_name(k)} {tuple(state[k].shape)} (network: {tuple(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or extra or shapes:
        parts = [
            f"missing {[_cmbml_name(k) for k in missing]}" if missing else "",
            f"not in cmbml's UNet {[_cmbml_name(k) for k in extra]}" if extra else "",
            f"shapes differ: {'; '.join(shapes)}" if shapes else "",
        ]
        raise BadInputError(
            f"{source} does not fit the network: " + ", ".join(p for p in parts if p)
        )
    network.load_state_dict(state)
    return network


def load_cmbml_network(path: str | Path) -> tuple[UNet, int]:
    """The network of a CMB-ML checkpoint file as a cmbml UNet (eval mode) and its epoch.

    Its inputs are CMBNNCS planes of the observed maps divided by
    :data:`CMBML_SCALE_FEATURES`; its output times :data:`CMBML_SCALE_TARGET` is the CMB plane
    in uK_CMB.
    """
    state, epoch = read_cmbml_checkpoint(path)
    return network_from_state(state, str(path)).eval(), epoch


def _cmbml_name(key: str) -> str:
    """cmbml's ``down.0.1.weight`` as CMB-ML's ``conv1.1.weight``."""
    part, level, rest = key.split(".", 2)
    return f"{'conv' if part == 'down' else 'deconv'}{int(level) + 1}.{rest}"
