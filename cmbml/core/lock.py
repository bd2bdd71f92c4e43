"""One run per dataset at a time: an OS file lock on the dataset folder.

The lock (``<dataset>/.cmbml.lock``, held with :mod:`filelock`) is released by the operating
system when its holder dies, so a killed run never blocks the next one. Beside it,
``.cmbml.lock.json`` names the holder (pid, host, task, start time) for the waiting run's
message. Under the lock, temporary files left by killed runs (``.<name>.tmp-<pid>-<id>``) are
removed: no other run can be writing them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from cmbml.core.errors import CmbmlError
from cmbml.core.handlers import TMP_MARKER, atomic_path

__all__ = ["DatasetLockedError", "dataset_lock", "remove_stale_temporaries"]

log = logging.getLogger(__name__)
LOCK_NAME = ".cmbml.lock"
HOLDER_NAME = ".cmbml.lock.json"


class DatasetLockedError(CmbmlError):
    """Another run holds the dataset (the message names it)."""


def _holder(folder: Path) -> str:
    try:
        info = json.loads((folder / HOLDER_NAME).read_text())
    except (OSError, ValueError):
        return "another run (no holder information)"
    return (
        f"pid {info.get('pid')} on host {info.get('host')} (task {info.get('task')}, "
        f"started {info.get('started')})"
    )


def writable(folder: Path) -> bool:
    """Whether files can be created in the dataset folder (created if missing).

    Probed by creating a file, since permission bits do not tell for every user (root) and
    file system (read-only mounts, immutable folders).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".cmbml-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return True


@contextmanager
def dataset_lock(folder: Path, task: str, wait_s: float | None) -> Iterator[None]:
    """Hold the lock of dataset ``folder`` for the duration of the block.

    Parameters
    ----------
    folder : Path
        The dataset folder (``{datasets_root}/{dataset_name}``); must be writable.
    task : str
        Recorded in the holder information.
    wait_s : float or None
        Seconds to wait for another run to finish; ``None`` waits for ever, ``0`` fails at once.

    Raises
    ------
    DatasetLockedError
        The lock was not obtained in time; the message names the holder.
    """
    lock = FileLock(str(folder / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _holder(folder)
        if wait_s is not None and wait_s <= 0:
            raise DatasetLockedError(
                f"dataset {folder} is in use by {holder}; wait for it to finish, or set "
                "pipeline.lock_wait_s to wait (null: for ever)"
            ) from None
        log.warning("dataset %s is in use by %s; waiting for it to finish", folder, holder)
        try:
            lock.acquire(timeout=-1 if wait_s is None else wait_s)
        except Timeout:
            raise DatasetLockedError(
                f"dataset {folder} still in use by {holder} after {wait_s} s (pipeline.lock_wait_s)"
            ) from None
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "task": task,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        with atomic_path(folder / HOLDER_NAME) as tmp:
            tmp.write_text(json.dumps(info))
        yield
    finally:
        (folder / HOLDER_NAME).unlink(missing_ok=True)
        lock.release()


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files of killed runs under ``folder`` (call it holding the lock)."""
    removed = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            if name.startswith(".") and TMP_MARKER in name:
                Path(dirpath, name).unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run", removed)
    return removed
