"""File fingerprints: what a unit of work read and wrote, cheap to check, exact when needed.

A fingerprint is ``(size, mtime_ns, digest)`` with ``digest`` the SHA-256 of the content. It is
recorded when a file is written (outputs) or first read (inputs). A later check compares size and
``mtime_ns`` from one ``stat()``; only when those differ (a copied dataset, a touched file) or
when asked to verify is the content hashed again, so a no-op rerun costs one ``stat()`` per file
(the rule of DVC's cache and of Snakemake's mtime trigger, with content as the tie-breaker).

Paths are stored relative to a few named roots (the dataset folder, the assets folder, ...), so a
moved or copied dataset stays up to date; :meth:`PathCodec.portable` does the same for the paths in
a stage's config before it is hashed, so a moved checkout or assets folder keeps every hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Fingerprint",
    "PathCodec",
    "combine",
    "file_digest",
    "fingerprint",
    "matches",
]

_CHUNK = 1 << 22
#: Digests of files already hashed by this process, keyed by path, valid for (size, mtime_ns).
_DIGESTS: dict[str, tuple[int, int, str]] = {}


@dataclass(frozen=True)
class Fingerprint:
    """Size (bytes), modification time (ns) and SHA-256 (hex) of a file."""

    size: int
    mtime_ns: int
    digest: str

    def as_dict(self) -> dict:
        return asdict(self)


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of the content of ``path``."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def fingerprint(path: Path, *, rehash: bool = False) -> Fingerprint:
    """Fingerprint of an existing file; the digest is reused while size and mtime are unchanged.

    Parameters
    ----------
    path : Path
        A regular file.
    rehash : bool
        Hash the content even if this process already knows the digest.
    """
    key = str(Path(path).absolute())
    st = os.stat(key)
    known = _DIGESTS.get(key)
    if not rehash and known is not None and known[:2] == (st.st_size, st.st_mtime_ns):
        return Fingerprint(st.st_size, st.st_mtime_ns, known[2])
    digest = file_digest(Path(key))
    _DIGESTS[key] = (st.st_size, st.st_mtime_ns, digest)
    return Fingerprint(st.st_size, st.st_mtime_ns, digest)


def matches(path: Path, recorded: Mapping, *, verify: bool = False) -> int | None:
    """The ``mtime_ns`` of ``path`` if it still has the recorded fingerprint, else None.

    Size and ``mtime_ns`` equal: up to date without reading (unless ``verify``). Size equal but
    mtime changed: the content is hashed and compared. A missing file or another size: None.
    One ``stat()`` in the common case.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_size != recorded.get("size"):
        return None
    if st.st_mtime_ns == recorded.get("mtime_ns") and not verify:
        return st.st_mtime_ns
    found = fingerprint(Path(path), rehash=verify)
    return found.mtime_ns if found.digest == recorded.get("digest") else None


def combine(parts: Iterable[object]) -> str:
    """A short hex digest of a sequence of strings/digests (order matters)."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(str(part).encode())
        sha.update(b"\x1f")
    return sha.hexdigest()[:16]


class PathCodec:
    """Writes paths relative to named roots (``@dataset/...``) and reads them back.

    Parameters
    ----------
    roots : mapping
        Name -> folder, tried in order; a path under none of them is stored absolute.
    """

    def __init__(self, roots: Mapping[str, Path | str]) -> None:
        self.roots = {name: Path(p).absolute() for name, p in roots.items()}

    def encode(self, path: Path | str) -> str:
        """``@<root>/<relative path>``, or the absolute path outside every root."""
        path = Path(path).absolute()
        for name, root in self.roots.items():
            if path.is_relative_to(root):
                return f"@{name}/{path.relative_to(root).as_posix()}"
        return str(path)

    def portable(self, value: Any) -> Any:
        """``value`` (nested dicts, lists, strings ...) with every absolute path string under a
        root written ``@<root>/<relative path>``: what a config hash may depend on. A file's
        content is not read here; the manifests of the units that read it hold its fingerprint.
        """
        if isinstance(value, Mapping):
            return {key: self.portable(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.portable(item) for item in value]
        if isinstance(value, str) and Path(value).is_absolute():
            return self.encode(value)
        return value

    def decode(self, text: str) -> Path:
        """The path of an encoded name under today's roots."""
        if text.startswith("@"):
            name, _, rel = text[1:].partition("/")
            if name in self.roots:
                return self.roots[name] / rel
        return Path(text)
