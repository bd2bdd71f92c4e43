"""Unit manifests: the record that makes a unit of work (stage x split x sim) up to date.

A manifest is written last, after every output of the unit is in place, and removed before the
unit recomputes. It holds the stage's config hash, and the fingerprint (size, mtime_ns, SHA-256)
of every file the unit read and wrote, under paths relative to the dataset and assets folders
(:meth:`cmbml.core.Catalog.path_codec`).
A unit is up to date when its manifest exists, its config hash equals the stage's hash now, and
every recorded file still has its fingerprint (:func:`cmbml.core.provenance.matches`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from cmbml.core import provenance
from cmbml.core.catalog import Catalog
from cmbml.core.handlers import atomic_path

__all__ = ["MANIFEST_ENTRY", "STAGE_RECORD_ENTRY", "Ledger", "unit_name"]

log = logging.getLogger(__name__)
MANIFEST_ENTRY = "stage_manifest"
FORMAT_VERSION = 2
#: Catalog entry of the file, beside a stage's unit manifests, that records the config and code
#: version its units were last computed with.
STAGE_RECORD_ENTRY = "stage_record"


def unit_name(unit: tuple[str, int] | str | None) -> str:
    """``Train_sim0003`` for a per-simulation unit, ``all`` for a whole-dataset unit (a name
    is returned as it is)."""
    if isinstance(unit, str):
        return unit
    return "all" if unit is None else f"{unit[0]}_sim{unit[1]:04d}"


class Ledger:
    """Reads, checks, invalidates and writes the manifests of one dataset.

    Parameters
    ----------
    catalog : Catalog
        Resolves ``stage_manifest`` and the dataset / assets roots for relative paths.
    verify : bool
        Re-hash every recorded file instead of trusting size and mtime.
    writable : bool
        Whether manifests may be refreshed (False for a read-only dataset).
    """

    def __init__(self, catalog: Catalog, verify: bool = False, writable: bool = True) -> None:
        self.catalog = catalog
        self.verify = verify
        self.writable = writable
        self.codec = catalog.path_codec()

    def path(self, stage: str, unit: tuple[str, int] | str | None) -> Path:
        """The manifest file of ``unit`` of ``stage`` (a stage name, or ``name/scope`` for a
        stage that writes in several places: see :meth:`cmbml.core.Stage.manifest_scope`)."""
        return self.catalog.path(MANIFEST_ENTRY, stage=stage, name=unit_name(unit))

    def is_done(self, stage: str, unit: tuple[str, int] | str | None, config_hash: str) -> bool:
        """Whether ``unit`` is up to date for ``config_hash`` (see the module docstring).

        A file whose size and content match but whose mtime changed (a copied dataset) is
        accepted and its new mtime recorded, so the next check is a ``stat()`` again.
        """
        return self.why_stale(stage, unit, config_hash) is None

    def why_stale(
        self, stage: str, unit: tuple[str, int] | str | None, config_hash: str
    ) -> str | None:
        """None when ``unit`` is up to date for ``config_hash`` (:meth:`is_done`), else what is
        not: no record of the unit, another config hash, a changed or missing file."""
        path = self.path(stage, unit)
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            return f"no record that it finished ({path} is missing or unreadable)"
        if manifest.get("version") != FORMAT_VERSION or manifest.get("hash") != config_hash:
            return f"it was recorded under another config (config hash in {path})"
        refreshed = False
        for section in ("inputs", "outputs"):
            for name, recorded in manifest.get(section, {}).items():
                file = self.codec.decode(name)
                mtime = provenance.matches(file, recorded, verify=self.verify)
                if mtime is None:
                    log.info("%s %s: %s changed or is missing", stage, unit_name(unit), file)
                    return f"{file} changed or is missing since"
                if mtime != recorded["mtime_ns"]:
                    recorded["mtime_ns"] = mtime
                    refreshed = True
        if refreshed and self.writable:
            self._dump(path, manifest)
        return None

    def outputs(self, stage: str, unit: tuple[str, int] | str | None) -> dict[str, dict]:
        """The outputs recorded for ``unit`` (encoded path -> fingerprint); empty without one."""
        try:
            return dict(json.loads(self.path(stage, unit).read_text()).get("outputs", {}))
        except (OSError, ValueError):
            return {}

    def invalidate(self, stage: str, unit: tuple[str, int] | None) -> None:
        """Remove the manifest of ``unit`` (before it recomputes)."""
        self.path(stage, unit).unlink(missing_ok=True)

    def record(
        self,
        stage: str,
        unit: tuple[str, int] | None,
        config_hash: str,
        inputs: Iterable[Path],
        outputs: Iterable[Path],
    ) -> None:
        """Write the manifest of a unit that just completed: hash and file fingerprints."""
        outputs = list(dict.fromkeys(Path(p) for p in outputs))
        own = {p.absolute() for p in outputs}
        inputs = [Path(p) for p in dict.fromkeys(inputs) if Path(p).absolute() not in own]
        manifest = {
            "version": FORMAT_VERSION,
            "stage": stage,
            "unit": unit_name(unit),
            "hash": config_hash,
            "inputs": self._fingerprints(inputs),
            "outputs": self._fingerprints(outputs),
        }
        self._dump(self.path(stage, unit), manifest)

    def describe(self, stage: str, config_hash: str, config: dict, code: str) -> None:
        """Record what the units of ``stage`` that just ran were computed with: the config hash,
        the resolved config it hashes (:meth:`cmbml.core.Stage.stage_config`) and the code
        version (:func:`cmbml.core.version.code_version`), for reports."""
        plain = json.loads(json.dumps(config, default=str))
        record = {"stage": stage, "hash": config_hash, "code": code, "config": plain}
        path = self.catalog.path(STAGE_RECORD_ENTRY, stage=stage)
        self.catalog.handler(STAGE_RECORD_ENTRY).write(path, record)

    def _fingerprints(self, paths: Iterable[Path]) -> dict[str, dict]:
        return {self.codec.encode(p): provenance.fingerprint(p).as_dict() for p in paths}

    @staticmethod
    def _dump(path: Path, manifest: dict) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1))
