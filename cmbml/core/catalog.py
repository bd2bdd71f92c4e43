"""The catalog: every file the pipeline reads or writes, resolved by one function.

Entries are declared in config (``catalog.<name>: {path: <template>, handler: <name>}``). The
template's context placeholders (``{root}``, ``{dataset}``, ``{assets}``, ``{logs}``) come from
config; the others (``{split}``, ``{sim}``, ``{freq}``, ``{epoch}``, ``{working}``, ...) are passed
explicitly.
There is no hidden mutable state: ``path(name, **values)`` is a pure function of its arguments.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cmbml.core.config import REPO_ROOT
from cmbml.core.errors import CatalogError
from cmbml.core.handlers import HANDLERS, Handler, get_handler
from cmbml.core.provenance import PathCodec

__all__ = ["Catalog", "CatalogEntry", "placeholders"]

#: Explicit placeholders a template may use besides the context ones; dummy values for checks.
EXPLICIT_PLACEHOLDERS: dict[str, Any] = {
    "split": "Test",
    "sim": 0,
    "freq": 100,
    "epoch": 1,
    "field": "I",
    "working": "Working",
    "scoring": "matched",
    "stage": "stage",
    "model": "model",
    "name": "name",
}


def placeholders(template: str) -> list[str]:
    """Names of the ``{placeholders}`` in a path template, in order of appearance."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


@dataclass(frozen=True)
class CatalogEntry:
    """One declared asset: a path template, a handler name and handler options."""

    name: str
    path: str
    handler: str
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.handler not in HANDLERS:
            raise CatalogError(
                f"catalog entry '{self.name}': unknown handler '{self.handler}' "
                f"(known: {', '.join(sorted(HANDLERS))})"
            )


class Catalog:
    """Resolves catalog names to paths and reads/writes them with their handler.

    Parameters
    ----------
    entries : mapping
        ``name -> {path, handler, options?}`` (the ``catalog`` config node).
    context : mapping
        Values for the context placeholders (``root``, ``dataset``, ``assets``, ``logs``).
    """

    def __init__(self, entries: DictConfig | dict, context: dict[str, Any]) -> None:
        if isinstance(entries, DictConfig):
            entries = OmegaConf.to_container(entries, resolve=True)
        self.context = dict(context)
        self.entries: dict[str, CatalogEntry] = {}
        for name, spec in entries.items():
            if not isinstance(spec, dict) or "path" not in spec or "handler" not in spec:
                raise CatalogError(
                    f"catalog entry '{name}' must be a mapping with 'path' and 'handler', "
                    f"got {spec!r}"
                )
            self.entries[name] = CatalogEntry(
                name, str(spec["path"]), str(spec["handler"]), dict(spec.get("options") or {})
            )

    @classmethod
    def from_config(cls, cfg: DictConfig) -> Catalog:
        """Build the catalog of a composed config."""
        root, dataset = cfg.local_system.datasets_root, cfg.dataset_name
        logs_root = cfg.local_system.get("logs_root")
        context = {
            "root": root,
            "dataset": dataset,
            "assets": cfg.local_system.assets_dir,
            "logs": f"{root}/{dataset}/Logs" if logs_root is None else f"{logs_root}/{dataset}",
        }
        return cls(cfg.catalog, context)

    def entry(self, name: str) -> CatalogEntry:
        """The entry ``name``; an unknown name raises :class:`CatalogError` naming it."""
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries))
            raise CatalogError(f"unknown catalog entry '{name}'; declared: {known}") from None

    def path(self, name: str, /, **values: Any) -> Path:
        """Resolve ``name`` with explicit placeholder values to a path.

        Raises
        ------
        CatalogError
            Unknown name, a placeholder without a value, or a value for a placeholder the
            template does not have.
        """
        entry = self.entry(name)
        needed = set(placeholders(entry.path))
        extra = set(values) - needed
        if extra:
            raise CatalogError(
                f"catalog entry '{name}' ({entry.path}) has no placeholder(s) "
                f"{', '.join(sorted(extra))}"
            )
        mapping = {k: v for k, v in self.context.items() if k in needed}
        mapping.update(values)
        missing = needed - set(mapping)
        if missing:
            raise CatalogError(
                f"catalog entry '{name}' ({entry.path}) needs a value for placeholder(s) "
                f"{', '.join('{' + m + '}' for m in sorted(missing))}"
            )
        try:
            return Path(entry.path.format(**mapping))
        except (ValueError, TypeError) as exc:
            raise CatalogError(f"catalog entry '{name}' ({entry.path}): {exc}") from exc

    def path_codec(self) -> PathCodec:
        """Paths relative to the folders a dataset's provenance may name, tried in order: the
        dataset (``@dataset``), the assets folder (``@assets``), PySM3's data tree
        (``@pysm``, when ``PYSM_LOCAL_DATA`` is set) and this checkout (``@repo``). Manifests
        and config hashes written through it hold no machine path for files under them."""
        roots = {
            "dataset": Path(self.context["root"]) / str(self.context["dataset"]),
            "assets": Path(self.context["assets"]),
        }
        if os.environ.get("PYSM_LOCAL_DATA"):
            roots["pysm"] = Path(os.environ["PYSM_LOCAL_DATA"])
        roots["repo"] = REPO_ROOT
        return PathCodec(roots)

    def handler(self, name: str) -> Handler:
        """The handler instance of entry ``name``."""
        return get_handler(self.entry(name).handler)

    def check(self, name: str) -> None:
        """Resolve ``name`` with dummy values for its explicit placeholders (config check)."""
        entry = self.entry(name)
        unknown = [
            p
            for p in placeholders(entry.path)
            if p not in self.context and p not in EXPLICIT_PLACEHOLDERS
        ]
        if unknown:
            raise CatalogError(
                f"catalog entry '{name}' ({entry.path}) uses unknown placeholder(s) "
                f"{', '.join('{' + u + '}' for u in unknown)}; known: "
                f"{', '.join(sorted(set(self.context) | set(EXPLICIT_PLACEHOLDERS)))}"
            )
        dummy = {
            p: EXPLICIT_PLACEHOLDERS[p] for p in placeholders(entry.path) if p not in self.context
        }
        self.path(name, **dummy)
