"""Deterministic seeds from a stable hash of what a random draw is for.

Every random draw is seeded from (base seed, dataset, split, sim, component, detector), so any
simulation can be regenerated alone, in any order, on any worker, bit for bit.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_seed(*parts: object) -> int:
    """A 128-bit integer from the SHA-256 of the parts' text (stable across runs and machines).

    Parameters
    ----------
    *parts : object
        Anything with a stable ``str`` (strings, ints, None).

    Returns
    -------
    int
        Non-negative integer < 2**128.
    """
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "little")


def make_rng(
    base_seed: int,
    dataset: str,
    split: str,
    sim: int | None,
    component: str,
    detector: object = None,
) -> np.random.Generator:
    """A PCG64 generator for one (dataset, split, sim, component, detector) draw.

    Parameters
    ----------
    base_seed : int
        Global seed (config ``seed``).
    dataset, split : str
        Dataset name and split name (``"Train"``, ...).
    sim : int or None
        Simulation index (None for per-split or per-dataset draws).
    component : str
        What is drawn (``"cmb"``, ``"noise"``, ``"cosmology"``, ...).
    detector : object, optional
        Detector band or None.
    """
    seed = stable_seed(base_seed, dataset, split, sim, component, detector)
    return np.random.Generator(np.random.PCG64(seed))
