"""The pipeline under a multi-process launcher (``torchrun``): who runs what.

``torchrun --nproc_per_node=N main_cmbnncs.py ...`` starts ``N`` copies of the script (``srun
torchrun ...`` on SLURM: ``N`` per node), each with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
in its environment. Rank 0 is the pipeline: it takes the dataset lock, logs, runs every stage
and decides which are up to date. Ranks > 0 only take part in the stages that declare
``distributed = True`` (data-parallel training): for each of them, in pipeline order, they wait
for rank 0's decision at the process-group rendezvous and, if the stage runs, run it beside
rank 0, which runs it in its own process. Such a stage splits its work by rank and writes files
from rank 0 only.

The default process group is created when rank 0 reaches the first distributed stage (NCCL when
CUDA is available, otherwise gloo). Ranks > 0 wait for it, and for every later decision, up to
``CMBML_DIST_TIMEOUT_MIN`` minutes (default 1440: rank 0 may be simulating or preprocessing
first); the launcher stops every rank when one fails.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
from collections.abc import Iterable, Mapping

__all__ = [
    "announce",
    "broadcast",
    "collective_device",
    "follow",
    "launch_rank",
    "launch_world_size",
]

log = logging.getLogger(__name__)
TIMEOUT_ENV = "CMBML_DIST_TIMEOUT_MIN"
DEFAULT_TIMEOUT_MIN = 1440.0


def launch_world_size() -> int:
    """Processes started by the launcher (``WORLD_SIZE``; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launch_rank() -> int:
    """Rank of this process in the launch (``RANK``; 0 without a launcher)."""
    return int(os.environ.get("RANK", "0")) if launch_world_size() > 1 else 0


def _timeout() -> datetime.timedelta:
    text = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_MIN))
    try:
        minutes = float(text)
    except ValueError as exc:
        raise ValueError(f"{TIMEOUT_ENV}={text!r}: expected a number of minutes") from exc
    return datetime.timedelta(minutes=minutes)


def _process_group() -> None:
    """Join the default process group once (NCCL with one GPU per local rank, else gloo)."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "nccl"
    else:
        backend = "gloo"
    log.info(
        "rank %d of %d joins the %s process group", launch_rank(), launch_world_size(), backend
    )
    dist.init_process_group(backend=backend, timeout=_timeout())
    atexit.register(_leave)


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _is_distributed(stage) -> bool:
    return bool(getattr(stage, "distributed", False))


def collective_device():
    """Where the tensors of collective operations live: the current CUDA device for NCCL, else
    the CPU (a process group must exist)."""
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast(value):
    """Rank 0's ``value`` (any picklable object) on every rank of the process group."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, device=collective_device())
    return box[0]


def _broadcast_decision(run: bool | None) -> bool:
    """Rank 0's ``run`` on every rank."""
    return bool(broadcast(run))


def announce(stage, run: bool) -> bool:
    """Rank 0: tell ranks > 0 whether a distributed ``stage`` runs now.

    Parameters
    ----------
    stage : Stage
        The stage whose turn it is.
    run : bool
        Whether rank 0 runs it (it is not up to date).

    Returns
    -------
    bool
        True for a distributed stage in a multi-process launch: its unit must run in this
        process (the one in the process group), not on a parallel backend's worker.
    """
    if launch_world_size() == 1 or not _is_distributed(stage):
        return False
    _process_group()
    _broadcast_decision(run)
    return True


def follow(stages: Mapping[str, object], names: Iterable[str]) -> dict:
    """Ranks > 0: take part in the distributed stages among ``names``, in order.

    For each, wait for rank 0's decision and run the stage with it if it is not up to date.
    Ranks > 0 take no lock, write no manifest and log warnings only.

    Returns
    -------
    dict
        Empty: the pipeline's report is rank 0's.
    """
    logging.getLogger("cmbml").setLevel(logging.WARNING)
    for name in names:
        stage = stages[name]
        if not _is_distributed(stage):
            continue
        _process_group()
        if _broadcast_decision(None):
            with stage.numeric_state(None):
                stage.run()
    return {}
