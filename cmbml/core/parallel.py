"""Parallel backends: one ``map`` used by every per-simulation stage.

``parallel.backend`` selects ``serial``, ``processes`` (a spawn-context process pool), ``dask``
(a ``dask.distributed`` LocalCluster, or an existing scheduler at ``parallel.scheduler_address``)
or ``slurm`` (a ``dask_jobqueue.SLURMCluster`` built from config). Results are returned in input
order; the first failure cancels what has not started and is re-raised.

Workers of ``processes`` die with the run that started them (a killed run leaves no worker
writing behind it), and ``slurm`` gives up with a clear message when no job has started a worker
within ``parallel.slurm.start_timeout_s``.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from cmbml.core.errors import CmbmlError, ConfigError
from cmbml.core.schema import BACKENDS

__all__ = ["Backend", "make_backend", "open_backend"]

log = logging.getLogger(__name__)


class Backend:
    """Maps a function over items, with a progress bar; subclasses choose where it runs."""

    name = "serial"

    def map(self, fn: Callable, items: list, desc: str = "") -> list:
        """``[fn(item) for item in items]``, run by this backend, in input order."""
        results = []
        for item in tqdm(items, desc=desc, unit="sim", disable=not items):
            results.append(fn(item))
        return results

    def close(self) -> None:
        """Release workers and clusters."""


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Worker initialiser: end this process as soon as the run that spawned it is gone.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``);
    elsewhere a daemon thread polls the parent pid.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="cmbml-parent-watch", daemon=True).start()


class ProcessBackend(Backend):
    """A pool of spawned worker processes (long-lived for the whole pipeline run)."""

    name = "processes"

    def __init__(self, n_workers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pool = cf.ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=ctx,
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        )

    def map(self, fn, items, desc=""):
        futures = {self.pool.submit(fn, item): i for i, item in enumerate(items)}
        return _collect(futures, cf.as_completed(futures), len(items), desc)

    def close(self):
        self.pool.shutdown(cancel_futures=True)


class DaskBackend(Backend):
    """A ``dask.distributed`` client on a LocalCluster, a SLURM cluster or a given scheduler."""

    name = "dask"

    def __init__(self, client, cluster=None) -> None:
        self.client = client
        self.cluster = cluster

    def map(self, fn, items, desc=""):
        from distributed import as_completed

        futures = self.client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            return _collect(
                {f: index[f.key] for f in futures}, as_completed(futures), len(items), desc
            )
        finally:
            self.client.cancel(futures)

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _collect(futures: dict, completed: Iterable, n: int, desc: str) -> list:
    results: list[Any] = [None] * n
    try:
        for future in tqdm(completed, total=n, desc=desc, unit="sim", disable=not n):
            results[futures[future]] = future.result()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results


def _dask_local(pcfg: DictConfig) -> DaskBackend:
    from distributed import Client, LocalCluster

    if pcfg.get("scheduler_address"):
        log.info("connecting to the dask scheduler at %s", pcfg.scheduler_address)
        return DaskBackend(Client(pcfg.scheduler_address))
    cluster = LocalCluster(
        n_workers=int(pcfg.n_workers),
        threads_per_worker=int(pcfg.threads_per_worker),
        processes=True,
        dashboard_address=pcfg.get("dashboard_address"),
    )
    log.info("started a dask LocalCluster: %s", cluster)
    return DaskBackend(Client(cluster), cluster)


def make_slurm_cluster(pcfg: DictConfig):
    """Build (but do not scale) a ``dask_jobqueue.SLURMCluster`` from ``parallel.slurm``."""
    from dask_jobqueue import SLURMCluster

    scfg = pcfg.slurm
    return SLURMCluster(
        queue=scfg.queue,
        account=scfg.get("account"),
        cores=int(scfg.cores),
        processes=int(scfg.processes),
        memory=str(scfg.memory),
        walltime=str(scfg.walltime),
        job_extra_directives=list(scfg.get("job_extra_directives") or []),
        job_script_prologue=list(scfg.get("job_script_prologue") or []),
        log_directory=scfg.get("log_directory"),
        interface=scfg.get("interface"),
        scheduler_options=dict(scfg.get("scheduler_options") or {}),
    )


def _dask_slurm(pcfg: DictConfig) -> DaskBackend:
    from distributed import Client

    cluster = make_slurm_cluster(pcfg)
    client = Client(cluster)
    timeout = float(pcfg.slurm.get("start_timeout_s") or 0) or None
    try:
        cluster.scale(jobs=int(pcfg.slurm.jobs))
        log.info("submitted %d SLURM jobs:\n%s", pcfg.slurm.jobs, cluster.job_script())
        log.info("waiting up to %s s for the first SLURM worker", timeout or "unlimited")
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError) as exc:
        client.close()
        cluster.close()
        raise CmbmlError(
            f"no SLURM job started a dask worker within {timeout} s "
            f"(parallel.slurm.start_timeout_s); the jobs were cancelled. Check the queue "
            f"(squeue -u $USER), parallel.slurm.queue='{pcfg.slurm.queue}' and the account: "
            f"{exc}"
        ) from exc
    return DaskBackend(client, cluster)


def make_backend(pcfg: DictConfig) -> Backend:
    """Create the backend named by ``parallel.backend``."""
    backend = pcfg.get("backend", "serial")
    if backend == "serial":
        return Backend()
    if backend == "processes":
        return ProcessBackend(int(pcfg.n_workers))
    if backend == "dask":
        return _dask_local(pcfg)
    if backend == "slurm":
        return _dask_slurm(pcfg)
    raise ConfigError(f"parallel.backend must be one of {BACKENDS}, got '{backend}'")


@contextmanager
def open_backend(pcfg: DictConfig | dict) -> Iterator[Backend]:
    """Context manager around :func:`make_backend` that always closes it."""
    if isinstance(pcfg, dict):
        pcfg = OmegaConf.create(pcfg)
    backend = make_backend(pcfg)
    try:
        yield backend
    finally:
        backend.close()
