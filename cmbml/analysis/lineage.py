"""The unit manifests behind a result, walked upstream, for reports.

Every unit manifest (:mod:`cmbml.core.manifests`) names the files its unit read and wrote. An
index from written file to manifest turns that into a graph: the manifests behind a file are the
one that wrote it, the ones that wrote its inputs, and so on up to the simulations. Each manifest
is summarised by a digest of what defines it (stage, unit, config hash, and the content digests
of its inputs and outputs), which, unlike the manifest file, does not change when a copied
dataset's mtimes are refreshed.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from cmbml.core import provenance

__all__ = ["ManifestIndex", "StageTrail", "UnitRecord"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitRecord:
    """One unit manifest: ``stage`` is its stage key (``name`` or ``name/scope``)."""

    path: Path
    stage: str
    unit: str
    config_hash: str
    digest: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> UnitRecord:
        """Read a manifest file (``ValueError`` / ``OSError`` if it is not one)."""
        manifest = json.loads(path.read_text())
        parts = [manifest["stage"], manifest["unit"], manifest["hash"]]
        for section in ("inputs", "outputs"):
            files = manifest[section]
            parts += [f"{section}:{name}:{files[name]['digest']}" for name in sorted(files)]
        return cls(
            path=path,
            stage=str(manifest["stage"]),
            unit=str(manifest["unit"]),
            config_hash=str(manifest["hash"]),
            digest=provenance.combine(parts),
            inputs=tuple(manifest["inputs"]),
            outputs=tuple(manifest["outputs"]),
        )


@dataclass(frozen=True)
class StageTrail:
    """The units of one stage key behind a result: how many, their config hash(es), and one
    digest of their manifests' digests (in unit order)."""

    stage: str
    units: int
    config_hashes: tuple[str, ...]
    digest: str
    manifests: tuple[Path, ...]


class ManifestIndex:
    """All unit manifests under a dataset's ``Manifests`` folder, by the files they wrote.

    Parameters
    ----------
    folder : Path
        The ``Manifests`` folder (a missing one gives an empty index).
    """

    def __init__(self, folder: Path) -> None:
        self.records: list[UnitRecord] = []
        self.by_output: dict[str, UnitRecord] = {}
        for path in sorted(Path(folder).rglob("*.json")):
            try:
                record = UnitRecord.load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping %s: not a unit manifest (%s)", path, exc)
                continue
            self.records.append(record)
            self.by_output.update(dict.fromkeys(record.outputs, record))

    def writers(self, names: Iterable[str]) -> list[UnitRecord]:
        """The manifests that wrote ``names`` (encoded paths, ``@dataset/...``), in order."""
        found = (self.by_output.get(name) for name in names)
        return list(dict.fromkeys(r for r in found if r is not None))

    def upstream(self, names: Iterable[str]) -> list[UnitRecord]:
        """The manifests behind files ``names``: their writers and, recursively, the writers of
        those units' inputs (breadth first, each once)."""
        queue = deque(self.writers(names))
        seen: dict[UnitRecord, None] = dict.fromkeys(queue)
        while queue:
            for record in self.writers(queue.popleft().inputs):
                if record not in seen:
                    seen[record] = None
                    queue.append(record)
        return list(seen)

    def trail(self, records: Iterable[UnitRecord]) -> list[StageTrail]:
        """``records`` grouped by stage key, each stage after the stages whose outputs it read
        (ties in the order a walk from the result met them)."""
        groups: dict[str, list[UnitRecord]] = {}
        for record in records:
            groups.setdefault(record.stage, []).append(record)
        graph = TopologicalSorter({stage: () for stage in groups})
        for stage, units in groups.items():
            feeding = {w.stage for r in units for w in self.writers(r.inputs)}
            graph.add(stage, *(s for s in feeding if s in groups and s != stage))
        try:
            order = list(graph.static_order())
        except CycleError:
            order = list(reversed(groups))
        trails = []
        for stage in order:
            units = sorted(groups[stage], key=lambda r: r.unit)
            trails.append(
                StageTrail(
                    stage=stage,
                    units=len(units),
                    config_hashes=tuple(sorted({r.config_hash for r in units})),
                    digest=provenance.combine(r.digest for r in units),
                    manifests=tuple(r.path for r in units),
                )
            )
        return trails
