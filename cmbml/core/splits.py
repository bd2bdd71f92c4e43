"""Splits with their own simulation settings: kinds of test splits.

A split may carry ``kind`` (:data:`cmbml.core.schema.SPLIT_KINDS`) and ``sim``, a partial
``model.sim`` config merged over the dataset's when that split is simulated, e.g. a
fixed-spectrum split or a split whose foregrounds come from another model::

    TestF1: {n_sims: 100, kind: fixed_spectrum, sim: {cmb: {fixed_spectrum: per_split}}}
    TestFgShift: {n_sims: 100, kind: foreground_shift, sim: {foregrounds: {...}}}

Simulation stages read their settings through :func:`split_config`; a stage's config hash
includes the ``sim`` settings of every split under its ``config_keys``
(:func:`split_settings`), so changing one split's settings recomputes that stage.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf, open_dict

from cmbml.core.schema import SplitSchema, get_splits

__all__ = ["split_config", "split_kinds", "split_settings", "split_sim", "evaluation_splits"]

_SIM_KEY = "model.sim"


def _split(cfg: DictConfig, name: str) -> SplitSchema:
    for split in get_splits(cfg):
        if split.name == name:
            return split
    raise KeyError(f"no split '{name}' in splits ({[s.name for s in get_splits(cfg)]})")


def split_sim(cfg: DictConfig, split: str | None) -> dict:
    """The ``sim`` settings of ``split`` (``{}`` for none, or for ``split=None``)."""
    return {} if split is None else dict(_split(cfg, split).sim or {})


def split_config(cfg: DictConfig, split: str | None) -> DictConfig:
    """``cfg`` as it applies to simulating ``split``: its ``sim`` merged over ``model.sim``.

    Parameters
    ----------
    cfg : DictConfig
        The composed configuration.
    split : str or None
        Split name; ``None`` (dataset-wide work) returns ``cfg``.

    Returns
    -------
    DictConfig
        ``cfg`` itself when the split has no settings of its own, else a merged copy.
    """
    settings = split_sim(cfg, split)
    if not settings:
        return cfg
    with open_dict(cfg):  # a split may add keys (a second dust component)
        return OmegaConf.merge(cfg, {"model": {"sim": settings}})


def split_settings(cfg: DictConfig, keys: tuple[str, ...]) -> dict[str, dict]:
    """Per split, the parts of its ``sim`` settings under the config ``keys`` of a stage.

    ``keys`` such as ``"model.sim.foregrounds"`` select ``sim.foregrounds``; ``"model.sim"``
    selects all of it; other keys select nothing. Splits without such settings are left out.
    """
    out: dict[str, dict] = {}
    for split in get_splits(cfg):
        sim = split.sim or {}
        chosen = {}
        for key in keys:
            if key == _SIM_KEY:
                chosen.update(sim)
            elif key.startswith(_SIM_KEY + "."):
                node = OmegaConf.select(OmegaConf.create(sim), key[len(_SIM_KEY) + 1 :])
                if OmegaConf.is_config(node):
                    node = OmegaConf.to_container(node)
                if node is not None:
                    chosen[key] = node
        if chosen:
            out[split.name] = chosen
    return out


def evaluation_splits(cfg: DictConfig) -> list[str]:
    """Names of the test splits (``Test*``), in declaration order."""
    return [s.name for s in get_splits(cfg) if s.name.startswith("Test")]


def split_kinds(cfg: DictConfig) -> dict[str, str]:
    """Split name -> kind (``train``, ``valid``, ``in_distribution``, ``fixed_spectrum`` ...)."""
    return {s.name: s.split_kind for s in get_splits(cfg)}
