"""The example network method of notebook F (demonstrations/patchcnn_method.py): its network
on patches of any side, and its five stages, which must be PatchNN's with every catalog entry,
setting and name moved to the method ``patchcnn`` (a forgotten one would read or hash PatchNN's
products)."""

import pytest
import torch

from cmbml.nn.uncertainty import has_dropout
from cmbml.patchnn.stages.postprocess import PatchnnPostprocess
from cmbml.patchnn.stages.predict import PatchnnPredict
from cmbml.patchnn.stages.preprocess import PatchnnPreprocess
from cmbml.patchnn.stages.scale import PatchnnScale
from cmbml.patchnn.stages.train import PatchnnTrain
from tests.demonstrations.notebooks import demo_module

TEMPLATES = [PatchnnScale, PatchnnPreprocess, PatchnnTrain, PatchnnPredict, PatchnnPostprocess]
DECLARED = ("name", "inputs", "outputs", "config_keys", "pol_config_keys", "obs_entry", "cmb_entry")


@pytest.fixture(scope="module")
def method():
    return demo_module("patchcnn_method")


def _renamed(value):
    """A declaration of PatchNN's with the method's name replaced, as PatchCNN's must be."""
    if isinstance(value, tuple):
        return tuple(_renamed(v) for v in value)
    return value.replace("patchnn", "patchcnn")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_stages_are_patchnn_stages_of_another_method(method, template):
    (stage,) = [
        cls
        for cls in vars(method).values()
        if isinstance(cls, type) and cls.__bases__ == (template,)
    ]
    assert stage.method == "patchcnn" and template.method == "patchnn"
    for key in DECLARED:
        if hasattr(template, key):
            assert getattr(stage, key) == _renamed(getattr(template, key)), key
    # the work is PatchNN's, inherited, not copied: the stage defines no method of its own
    assert not [k for k, v in vars(stage).items() if callable(v) and not isinstance(v, type)]


def test_network_maps_patches_of_any_side_to_one_channel(method):
    torch.manual_seed(0)
    network = method.PatchCNN(9, features=4, depth=2, dropout=0.2)
    for side in (4, 8, 12):
        network.check_input_size(side)
        assert network(torch.randn(3, 9, side, side)).shape == (3, 1, side, side)
    assert has_dropout(network) and not has_dropout(method.PatchCNN(9, features=4))
    # 1x1 mixing, two residual blocks of two 3x3 convolutions, 1x1 output (weights + biases)
    count = (9 * 4 + 4) + 2 * 2 * (4 * 4 * 9 + 4) + (4 + 1)
    assert sum(p.numel() for p in network.parameters()) == count


def test_bad_input_is_refused(method):
    network = method.PatchCNN(9, features=4)
    with pytest.raises(RuntimeError, match="9 channels"):
        network(torch.zeros(2, 4, 8, 8))
    with pytest.raises(ValueError, match="at least 1 pixel"):
        network.check_input_size(0)
    with pytest.raises(ValueError, match="features >= 1"):
        method.PatchCNN(9, features=0)
