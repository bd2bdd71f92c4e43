"""Seeds depend only on what is drawn, never on order or backend."""

import numpy as np

from cmbml.core import make_rng, open_backend


def _draw(key):
    split, sim, component = key
    return make_rng(1, "ds", split, sim, component).standard_normal(8)


KEYS = [("Train", s, c) for s in range(3) for c in ("cmb", "noise")] + [("Test", 0, "cmb")]


def test_same_key_same_stream_regardless_of_order_and_backend():
    forward = [_draw(k) for k in KEYS]
    backward = [_draw(k) for k in reversed(KEYS)][::-1]
    with open_backend({"backend": "dask", "n_workers": 2, "threads_per_worker": 1}) as dask:
        remote = dask.map(_draw, KEYS)
    for a, b, c in zip(forward, backward, remote, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_different_keys_differ():
    draws = np.array([_draw(k) for k in KEYS])
    assert len({d.tobytes() for d in draws}) == len(KEYS)
    assert not np.array_equal(
        make_rng(1, "ds", "Test", 0, "noise", 100).random(4),
        make_rng(1, "ds", "Test", 0, "noise", 143).random(4),
    )
    assert not np.array_equal(
        make_rng(1, "ds", "Test", 0, "cmb").random(4), make_rng(2, "ds", "Test", 0, "cmb").random(4)
    )
