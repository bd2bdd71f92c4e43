"""Hydra/OmegaConf glue: custom resolvers and config composition for scripts and tests."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cmbml.core.methods import register_methods

__all__ = [
    "CONFIG_DIR",
    "REPO_ROOT",
    "compose",
    "prepare_cli",
    "quote_group_choices",
    "register_resolvers",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "cfg"


def register_resolvers() -> None:
    """Register ``${cmbml_repo:}`` (repository root), ``${cmbml_mul:a,b}`` (a * b) and
    ``${cmbml_default:value,default}`` (default when value is null) and
    ``${cmbml_concat:list_a,list_b,...}`` (concatenated lists; a mapping stands for its values,
    lists, in order)."""
    if not OmegaConf.has_resolver("cmbml_repo"):
        OmegaConf.register_new_resolver("cmbml_repo", lambda: str(REPO_ROOT))
    if not OmegaConf.has_resolver("cmbml_default"):
        OmegaConf.register_new_resolver(
            "cmbml_default", lambda value, default: default if value is None else value
        )
    if not OmegaConf.has_resolver("cmbml_concat"):
        OmegaConf.register_new_resolver("cmbml_concat", _concat)
    if not OmegaConf.has_resolver("cmbml_mul"):
        OmegaConf.register_new_resolver("cmbml_mul", lambda a, b: a * b)


def _concat(*parts: Any) -> list:
    items: list = []
    for part in parts:
        for values in part.values() if isinstance(part, Mapping) else [part]:
            items.extend(values)
    return items


def quote_group_choices(overrides: list[str]) -> list[str]:
    """Quote numeric config-group choices (``splits=1450`` -> ``splits='1450'``).

    Hydra parses ``1450`` as an integer, which it refuses as a group choice; split names such as
    ``1450`` and ``1-1`` are still the natural thing to type.
    """
    groups = {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}
    quoted = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.lstrip("+~") in groups and value[:1] not in "'\"[" and value:
            item = f"{key}='{value}'"
        quoted.append(item)
    return quoted


def prepare_cli() -> None:
    """Call before ``@hydra.main``: register resolvers and installed method packages
    (:mod:`cmbml.core.methods`) and quote group choices in ``sys.argv``."""
    register_resolvers()
    register_methods()
    sys.argv[1:] = quote_group_choices(sys.argv[1:])


def compose(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose a primary config of ``cfg/`` with Hydra overrides (outside ``@hydra.main``).

    Parameters
    ----------
    config_name : str
        Primary config, e.g. ``"config_sims"``.
    overrides : list of str
        Hydra override strings (``"scenario.nside=16"``, ``"parallel=dask"``).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    register_methods()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(
            config_name=config_name, overrides=quote_group_choices(list(overrides or []))
        )


register_resolvers()
register_methods()
