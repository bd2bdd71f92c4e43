"""Cleaning methods installed as Python packages (entry-point group ``cmbml.methods``).

A method package declares one entry point per method in its ``pyproject.toml``::

    [project.entry-points."cmbml.methods"]
    coadd = "cmbml_coadd"

The value names the package (a module with a folder, no ``:attribute``); the folder ``cfg/``
inside it holds config groups laid out like cmbml's own ``cfg/`` (``catalog/``, ``stages/``,
``model/<method>/`` ...) and the method's entry config ``methods/<name>.yaml`` (header
``# @package _global_``), whose defaults list pulls the method's groups in and whose body adds
its analysis entry (``model.analysis.methods.<name>``), its leaderboard row
(``model.analysis.compare.extra_models.<name>``) and its stages (``pipeline.method_tasks.<name>``,
run by ``main_all.py`` before the comparison).

:func:`register_methods` (called when :mod:`cmbml.core` is imported, and by
:func:`cmbml.core.compose` and :func:`cmbml.core.prepare_cli`) puts every such ``cfg/`` on
Hydra's search path, after cmbml's own, and makes the config group default ``methods:
installed`` (``cfg/base.yaml``) select all of them. ``methods=[coadd]`` selects some,
``methods=[]`` none. Nothing of a method package is imported until a stage of it is built.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from cmbml.core.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "MethodPackage",
    "MethodsSearchPathPlugin",
    "installed_methods",
    "register_methods",
]

ENTRY_POINT_GROUP = "cmbml.methods"
#: The folder of a method package holding its config groups.
CONFIG_FOLDER = "cfg"


@dataclass(frozen=True)
class MethodPackage:
    """One installed method: entry-point name, package, distribution and config folder."""

    name: str
    package: str
    distribution: str
    config_dir: Path


def _method(entry) -> MethodPackage:
    dist = entry.dist.name if entry.dist is not None else "?"
    where = f"entry point '{entry.name} = {entry.value}' of {dist} (group {ENTRY_POINT_GROUP})"
    if entry.attr:
        raise ConfigError(f"{where}: the value must name a package, without ':{entry.attr}'")
    try:
        spec = importlib.util.find_spec(entry.module)
    except ImportError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{where}: '{entry.module}' is not an importable package")
    config_dir = Path(next(iter(spec.submodule_search_locations))) / CONFIG_FOLDER
    entry_config = config_dir / "methods" / f"{entry.name}.yaml"
    if not entry_config.is_file():
        raise ConfigError(f"{where}: the package has no {entry_config} (its entry config)")
    return MethodPackage(entry.name, entry.module, dist, config_dir)


def installed_methods() -> list[MethodPackage]:
    """The methods of the ``cmbml.methods`` entry points, sorted by name.

    Raises
    ------
    ConfigError
        An entry point that does not name an importable package with a ``cfg/methods/<name>.yaml``,
        or two distributions declaring the same name; the message names the entry point.
    """
    found: dict[str, MethodPackage] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        method = _method(entry)
        known = found.get(method.name)
        if known is not None and known.config_dir != method.config_dir:
            raise ConfigError(
                f"method '{method.name}' is declared by {known.distribution} and by "
                f"{method.distribution} (group {ENTRY_POINT_GROUP}); uninstall one"
            )
        found[method.name] = method
    return [found[name] for name in sorted(found)]


class MethodsSearchPathPlugin(SearchPathPlugin):
    """Appends the ``cfg/`` folder of every installed method package to Hydra's search path."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for method in installed_methods():
            search_path.append(f"cmbml-method-{method.name}", f"file://{method.config_dir}")


def register_methods() -> list[str]:
    """Register :class:`MethodsSearchPathPlugin` with Hydra and store the config
    ``methods/installed`` (every installed method); return the methods' names.

    Call again after installing a package in a running process.
    """
    importlib.invalidate_caches()  # a package installed since the last call
    Plugins.instance().register(MethodsSearchPathPlugin)
    names = [method.name for method in installed_methods()]
    ConfigStore.instance().store(
        group="methods", name="installed", node={"defaults": names}, package="_global_"
    )
    return names
