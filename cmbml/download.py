"""Download science assets and published datasets over HTTP(S).

Used by the scripts in ``get_data/``. Only the standard library (``urllib``) and ``tqdm``:

- streaming download with a progress bar into ``<name>.part``, renamed atomically to ``<name>``
  once complete and verified;
- resume: an existing ``.part`` is continued with an HTTP ``Range`` request (restarted from
  zero when the server ignores ranges); an interrupted transfer keeps its ``.part`` and can be
  retried in the same call (``retries``) or by running again;
- verification: the length the server announced, the expected ``size`` when known, and a
  checksum ``"<algorithm>:<hex>"`` (sha256, sha1 or md5, whichever the source publishes). A file
  that fails is deleted (a bad file already under the final name is renamed ``<name>.bad``) and
  :class:`ChecksumError` names the file and both checksums;
- extraction of ``.tar.gz``/``.tgz``/``.tar``/``.zip`` archives, refusing members that would land
  outside the destination folder (absolute paths, ``..``, escaping links, devices);
- a :class:`DownloadError` naming the URL, and where the file can be placed by hand, when the
  host cannot be reached (offline machine, firewall, wrong host); a :class:`NotFoundError` when
  the host answers that it has no such file (renamed or removed: not a network problem).

A manifest (``get_data/manifest.yaml``) lists groups of files: ``base_url`` plus entries
``{key, name, path, folder, size, checksum, extract}``; :func:`manifest_files` turns a group
into :class:`RemoteFile` objects.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml
from tqdm import tqdm

__all__ = [
    "local_system_path",
    "CHECKSUM_ALGORITHMS",
    "ChecksumError",
    "DownloadError",
    "NotFoundError",
    "RemoteFile",
    "cli_parser",
    "download",
    "extract_archive",
    "fetch",
    "fetch_all",
    "file_checksum",
    "load_manifest",
    "manifest_files",
    "parse_checksum",
    "run_cli",
]

logger = logging.getLogger(__name__)

CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5")
"""Checksum algorithms accepted in ``"<algorithm>:<hex>"`` specifications."""

CHUNK_SIZE = 1 << 16
"""Bytes read from the network (and from disk when hashing) at a time."""

USER_AGENT = "cmbml-get-data/0.1 (+urllib)"

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_CONTENT_RANGE_UNSATISFIED = re.compile(r"bytes\s+\*/(\d+)")


class DownloadError(RuntimeError):
    """A file could not be downloaded, verified or extracted (the message says which and why)."""


class NotFoundError(DownloadError):
    """The server was reached but has no such file (HTTP 404 or 410)."""


class ChecksumError(DownloadError):
    """A downloaded file's size or checksum differs from the expected one."""


class _Interrupted(DownloadError):
    """The transfer stopped early; the ``.part`` file is kept for a resume."""


class _StalePart(DownloadError):
    """The server cannot serve the range after the ``.part`` (longer than the remote file)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch.

    Attributes
    ----------
    name : str
        File name under the destination folder.
    url : str
        Full URL.
    size : int or None
        Expected size in bytes (None: only the length announced by the server is checked).
    checksum : str or None
        ``"<algorithm>:<hex digest>"`` (``sha256``, ``sha1`` or ``md5``), or None when the
        source publishes none.
    extract : bool
        Whether the file is an archive to extract into the destination folder.
    key : str
        Short name used on the command line to select it (e.g. ``"143"``, ``"nilc"``).
    folder : str
        Sub-folder of the destination folder that receives the file (and its extracted
        members); empty for the destination folder itself.
    """

    name: str
    url: str
    size: int | None = None
    checksum: str | None = None
    extract: bool = False
    key: str = ""
    folder: str = ""


def parse_checksum(spec: str) -> tuple[str, str]:
    """Split ``"<algorithm>:<hex>"`` into ``(algorithm, lower-case hex)``.

    Raises
    ------
    ValueError
        If the algorithm is not one of :data:`CHECKSUM_ALGORITHMS` or the digest is not hex of
        the algorithm's length.
    """
    algorithm, sep, digest = str(spec).partition(":")
    algorithm = algorithm.strip().lower()
    digest = digest.strip().lower()
    if not sep or algorithm not in CHECKSUM_ALGORITHMS:
        raise ValueError(
            f"checksum {spec!r}: expected '<algorithm>:<hex digest>' with algorithm one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}"
        )
    n_hex = 2 * hashlib.new(algorithm).digest_size
    if not re.fullmatch(rf"[0-9a-f]{{{n_hex}}}", digest):
        raise ValueError(f"checksum {spec!r}: a {algorithm} digest is {n_hex} hex characters")
    return algorithm, digest


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks.

    Parameters
    ----------
    path : path-like
        File to hash.
    algorithm : str
        ``"sha256"``, ``"sha1"`` or ``"md5"``.
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, name: str, checksum: str | None, size: int | None) -> None:
    """Raise :class:`ChecksumError` if ``path`` (holding file ``name``) is not as expected."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f"{name}: size {actual_size} bytes, expected {size} bytes")
    if checksum is not None:
        algorithm, expected = parse_checksum(checksum)
        actual = file_checksum(path, algorithm)
        if actual != expected:
            raise ChecksumError(
                f"{name}: {algorithm} checksum mismatch: expected {expected}, got {actual}"
            )


def _by_hand(url: str, dest: Path) -> str:
    return (
        f"If this machine has no network access, download {url} elsewhere and place the file "
        f"by hand at {dest}"
    )


def _open(url: str, offset: int, timeout: float, dest: Path) -> http.client.HTTPResponse | None:
    """Open ``url`` from byte ``offset``; None when the ``.part`` already holds the whole file."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            match = _CONTENT_RANGE_UNSATISFIED.search(err.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                return None
            raise _StalePart(f"{url}: cannot resume at byte {offset}") from err
        if err.code in (404, 410):
            raise NotFoundError(
                f"{url} answered HTTP {err.code} ({err.reason}): the server has no such file "
                "(it was not found: it may have been renamed or removed upstream)"
            ) from err
        raise DownloadError(
            f"{url} answered HTTP {err.code} ({err.reason}). {_by_hand(url, dest)}"
        ) from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"could not reach {url} ({reason}). {_by_hand(url, dest)}") from err


def _transfer(url: str, part: Path, dest: Path, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``part``, continuing from its current length when possible."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout, dest)
    except _StalePart:
        logger.warning("%s: the partial file does not match the remote one; restarting", part)
        part.unlink()
        offset = 0
        response = _open(url, offset, timeout, dest)
    if response is None:
        logger.info("%s: partial file already complete", dest.name)
        return
    with response:
        total = None
        if offset and response.status == 206:
            match = _CONTENT_RANGE.search(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise DownloadError(
                    f"{url}: asked for bytes from {offset}, the server answered "
                    f"Content-Range {response.headers.get('Content-Range')!r}"
                )
            if match.group(3) != "*":
                total = int(match.group(3))
            mode = "ab"
            logger.info("%s: resuming at byte %d", dest.name, offset)
        else:
            if offset:
                logger.info("%s: the server ignored the range request; restarting", dest.name)
            offset = 0
            mode = "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        received = offset
        part.parent.mkdir(parents=True, exist_ok=True)
        with (
            open(part, mode) as fh,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            try:
                for chunk in iter(lambda: response.read(CHUNK_SIZE), b""):
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as err:
                raise _Interrupted(
                    f"transfer of {url} failed after {received} bytes ({err}); the partial file "
                    f"{part} is kept: run again to resume"
                ) from err
    if total is not None and received < total:
        raise _Interrupted(
            f"transfer of {url} stopped after {received} of {total} bytes; the partial file "
            f"{part} is kept: run again to resume"
        )
    if total is not None and received > total:
        part.unlink()
        raise DownloadError(
            f"{url}: received {received} bytes, the server announced {total}; partial file deleted"
        )


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    checksum: str | None = None,
    size: int | None = None,
    retries: int = 0,
    timeout: float = 60.0,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` (resuming a ``dest.part`` left by an earlier attempt).

    Parameters
    ----------
    url : str
        HTTP(S) URL.
    dest : path-like
        Final file path; its folder is created if needed.
    checksum : str, optional
        ``"<algorithm>:<hex>"``; verified before the final rename.
    size : int, optional
        Expected size in bytes.
    retries : int
        How many times an interrupted transfer is resumed within this call.
    timeout : float
        Socket timeout in seconds.
    progress : bool
        Show a tqdm progress bar (stderr).
    force : bool
        Download again even if ``dest`` exists and verifies.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    NotFoundError
        The server has no such file (HTTP 404 or 410).
    DownloadError
        Host unreachable, HTTP error, or transfer interrupted more than ``retries`` times (the
        ``.part`` is kept).
    ChecksumError
        The complete file has the wrong size or checksum (the ``.part`` is deleted).
    """
    dest = Path(dest)
    if checksum is not None:
        parse_checksum(checksum)
    if dest.exists() and not force:
        if checksum is None and size is None:
            logger.info("%s: already present (no checksum to verify)", dest)
            return dest
        try:
            _verify(dest, dest.name, checksum, size)
        except ChecksumError as err:
            bad = dest.with_name(dest.name + ".bad")
            os.replace(dest, bad)
            logger.warning("%s; moved it to %s and downloading again", err, bad)
        else:
            logger.info("%s: already present and verified", dest)
            return dest
    part = dest.with_name(dest.name + ".part")
    if force and part.exists():
        part.unlink()
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, dest, timeout, progress)
            break
        except _Interrupted as err:
            if attempt == retries:
                raise
            logger.warning("%s (retry %d of %d)", err, attempt + 1, retries)
    try:
        _verify(part, dest.name, checksum, size)
    except ChecksumError as err:
        part.unlink()
        raise ChecksumError(f"{err} (downloaded from {url}; the bad file was deleted)") from None
    os.replace(part, dest)
    logger.info("%s: downloaded", dest)
    return dest


def _member_target(dest: Path, name: str, archive: Path) -> Path:
    """Path where archive member ``name`` lands, refusing anything outside ``dest``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
        raise DownloadError(f"{archive}: refusing member {name!r} (absolute path or '..')")
    target = (dest / pure).resolve()
    if not target.is_relative_to(dest):
        raise DownloadError(f"{archive}: refusing member {name!r} (it leaves {dest})")
    return target


def _check_tar_member(dest: Path, member: tarfile.TarInfo, archive: Path) -> None:
    target = _member_target(dest, member.name, archive)
    if member.isdev():
        raise DownloadError(f"{archive}: refusing device/fifo member {member.name!r}")
    if member.issym():
        link = (target.parent / member.linkname).resolve()
        if PurePosixPath(member.linkname).is_absolute() or not link.is_relative_to(dest):
            raise DownloadError(
                f"{archive}: refusing symlink {member.name!r} -> {member.linkname!r} "
                f"(it points outside {dest})"
            )
    if member.islnk():
        _member_target(dest, member.linkname, archive)


def extract_archive(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> list[Path]:
    """Extract a ``.tar.gz``/``.tgz``/``.tar``/``.zip`` archive into ``dest_dir``.

    All members are checked before anything is written: absolute paths, ``..`` components,
    links pointing outside ``dest_dir`` and device files are refused.

    Returns
    -------
    list of pathlib.Path
        Extracted regular files, sorted.

    Raises
    ------
    DownloadError
        Unsafe member or unreadable archive (the message names the archive and the member).
    ValueError
        Unknown archive type.
    """
    archive = Path(archive)
    lower = archive.name.lower()
    is_tar = lower.endswith((".tar.gz", ".tgz", ".tar"))
    if not is_tar and not lower.endswith(".zip"):
        raise ValueError(f"{archive}: unknown archive type (expected .tar.gz, .tgz, .tar or .zip)")
    dest = Path(dest_dir).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if is_tar:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    _check_tar_member(dest, member, archive)
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(dest, members=members, **extra)
                files = [dest / m.name for m in members if m.isfile()]
        else:
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    _member_target(dest, info.filename, archive)
                zf.extractall(dest)
                files = [dest / i.filename for i in infos if not i.is_dir()]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise DownloadError(f"{archive}: cannot extract ({err})") from err
    logger.info("%s: extracted %d files into %s", archive.name, len(files), dest)
    return sorted(files)


def fetch(
    remote: RemoteFile,
    dest_dir: str | os.PathLike,
    *,
    keep_archive: bool = True,
    **download_kwargs,
) -> Path:
    """Download one :class:`RemoteFile` into ``dest_dir`` and extract it if it is an archive.

    An extracted archive leaves a marker ``dest_dir/.extracted/<name>.txt`` (the list of its
    files), so later calls skip it even when the archive itself was deleted.

    Parameters
    ----------
    remote : RemoteFile
        What to fetch.
    dest_dir : path-like
        Destination folder (the file goes to its sub-folder ``remote.folder`` when set).
    keep_archive : bool
        Keep an archive after a successful extraction.
    **download_kwargs
        Passed to :func:`download` (``retries``, ``timeout``, ``progress``, ``force``).

    Returns
    -------
    pathlib.Path
        The downloaded file, or the folder an archive was extracted into.
    """
    dest_dir = Path(dest_dir) / remote.folder
    target = dest_dir / remote.name
    if not remote.extract:
        return download(
            remote.url, target, checksum=remote.checksum, size=remote.size, **download_kwargs
        )
    marker = dest_dir / ".extracted" / f"{remote.name}.txt"
    if marker.exists() and not download_kwargs.get("force", False):
        logger.info("%s: already extracted into %s", remote.name, dest_dir)
        return dest_dir
    download(remote.url, target, checksum=remote.checksum, size=remote.size, **download_kwargs)
    files = extract_archive(target, dest_dir)
    marker.parent.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    marker.write_text("".join(f"{f.relative_to(root).as_posix()}\n" for f in files))
    if not keep_archive:
        target.unlink()
    return dest_dir


def fetch_all(
    files: Sequence[RemoteFile], dest_dir: str | os.PathLike, **fetch_kwargs
) -> list[Path]:
    """:func:`fetch` each file in turn (stops at the first error); returns their paths."""
    paths = []
    for i, remote in enumerate(files, 1):
        logger.info("[%d/%d] %s", i, len(files), remote.name)
        paths.append(fetch(remote, dest_dir, **fetch_kwargs))
    return paths


def load_manifest(path: str | os.PathLike) -> dict:
    """Read a YAML manifest (a mapping of group name to group).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"download manifest not found: {path}")
    with open(path) as fh:
        manifest = yaml.safe_load(fh)
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: a download manifest must be a mapping of groups")
    return manifest


def manifest_files(
    manifest: dict,
    group: str,
    *,
    keys: Iterable[str] | None = None,
    base_url: str | None = None,
    source: str = "manifest",
) -> list[RemoteFile]:
    """The files of one manifest group as :class:`RemoteFile` objects.

    Parameters
    ----------
    manifest : dict
        From :func:`load_manifest`.
    group : str
        Group name, e.g. ``"planck_assets"``. The group has ``base_url`` and ``files``, a list
        of ``{key, name, path (optional sub-folder of the URL), folder (optional sub-folder
        of the destination), size, checksum, extract}``; it may list ``default`` keys (all
        files otherwise).
    keys : iterable of str, optional
        Keys to select (default: the group's ``default``, else all).
    base_url : str, optional
        Replaces the group's ``base_url`` (a mirror or a local test server).
    source : str
        Name of the manifest used in error messages.

    Raises
    ------
    ValueError
        Unknown group or key, or an entry without ``name``/``key``.
    """
    if group not in manifest:
        raise ValueError(f"{source}: no group {group!r} (groups: {', '.join(manifest)})")
    spec = manifest[group]
    base = base_url or spec.get("base_url")
    if not base or not isinstance(spec.get("files"), list):
        raise ValueError(f"{source}: group {group!r} needs 'base_url' and a 'files' list")
    if not base.endswith("/"):
        base += "/"
    entries = {}
    for entry in spec["files"]:
        if "name" not in entry or "key" not in entry:
            raise ValueError(f"{source}: {group} entry {entry!r} needs 'key' and 'name'")
        entries[str(entry["key"])] = entry
    wanted = [str(k) for k in (keys if keys is not None else spec.get("default", entries))]
    unknown = [k for k in wanted if k not in entries]
    if unknown:
        raise ValueError(
            f"{source}: {group} has no key(s) {', '.join(unknown)} (known: {', '.join(entries)})"
        )
    files = []
    for key in wanted:
        entry = entries[key]
        relative = urllib.parse.quote(f"{entry.get('path', '')}{entry['name']}")
        files.append(
            RemoteFile(
                name=entry["name"],
                url=urllib.parse.urljoin(base, relative),
                size=entry.get("size"),
                checksum=entry.get("checksum"),
                extract=bool(entry.get("extract", False)),
                key=key,
                folder=str(entry.get("folder", "")),
            )
        )
    return files


def local_system_path(key: str, *parts: str) -> Path:
    """A folder under ``local_system.<key>`` (``assets_dir`` or ``datasets_root``) of the config.

    Composes the project configuration (so ``CMBML_DATA_ROOT`` applies) only when called.
    """
    from cmbml.core import compose

    return Path(compose("config_sims").local_system[key], *parts)


def cli_parser(description: str, manifest: Path) -> argparse.ArgumentParser:
    """Command-line options shared by the ``get_data/`` scripts.

    ``--dest``, ``--base-url`` (a mirror, or a local server in tests), ``--manifest``,
    ``--retries``, ``--timeout``, ``--force``, ``--no-progress``; scripts add their own.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dest", type=Path, help="destination folder (default: see above)")
    parser.add_argument("--base-url", help="download from this mirror instead of the manifest's")
    parser.add_argument("--manifest", type=Path, default=manifest, help="(default: %(default)s)")
    parser.add_argument(
        "--retries", type=int, default=3, help="resumes per interrupted file (default: 3)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout, seconds")
    parser.add_argument("--force", action="store_true", help="download again even if present")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def run_cli(
    files: Sequence[RemoteFile],
    dest: Path,
    args: argparse.Namespace,
    *,
    keep_archive: bool = True,
) -> int:
    """Fetch ``files`` into ``dest`` with the options of :func:`cli_parser`; exit status.

    A :class:`DownloadError` is logged (one clear line, no traceback) and gives status 1.
    """
    try:
        fetch_all(
            files,
            dest,
            keep_archive=keep_archive,
            retries=args.retries,
            timeout=args.timeout,
            progress=not args.no_progress,
            force=args.force,
        )
    except DownloadError as err:
        logger.error("%s", err)
        return 1
    logger.info("done: %d item(s) in %s", len(files), dest)
    return 0
