"""Per-run logging: a log file under the dataset's ``Logs/`` with the composed config beside it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig, OmegaConf

from cmbml.core.catalog import Catalog
from cmbml.core.handlers import atomic_path

__all__ = ["run_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Libraries whose INFO messages (one per file read) would drown the pipeline's own log.
QUIET_LOGGERS = ("healpy", "distributed", "numba", "matplotlib")


@contextmanager
def run_logging(
    cfg: DictConfig, catalog: Catalog, task: str | None
) -> Iterator[logging.Handler | None]:
    """Attach a file handler for one run and save the composed config next to the log.

    Uses catalog entries ``run_log`` and ``run_config`` with ``{name}`` =
    ``<task>_<YYYYmmdd-HHMMSS>`` (under ``local_system.logs_root`` when set). When that folder
    cannot be written (a read-only dataset), the run goes on logging to the console only.
    """
    run_name = f"{task or cfg.get('task', 'run')}_{time.strftime('%Y%m%d-%H%M%S')}"
    log_path = catalog.path("run_log", name=run_name)
    config_path = catalog.path("run_config", name=run_name)
    root = logging.getLogger()
    previous = root.level
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    handler = None
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(config_path) as tmp:
            OmegaConf.save(cfg, tmp, resolve=True)
        handler = logging.FileHandler(log_path)
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "no run log: %s (set local_system.logs_root to a writable folder)", exc
        )
    if handler is not None:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.setLevel(logging.INFO)
        root.addHandler(handler)
        logging.getLogger(__name__).info("log file %s; config %s", log_path, config_path)
    try:
        yield handler
    finally:
        root.setLevel(previous)
        if handler is not None:
            root.removeHandler(handler)
            handler.close()
