"""A fixed numeric state for each unit of work, whatever ran before it in the process.

Floating-point results depend on more than a unit's inputs and config: on how many threads
split a reduction (torch's intra-op threads, which share OpenMP's setting with CAMB), on the
global random generators (numpy's, Python's, torch's) and on torch's default dtype and backend
flags. Any library may change these as a side effect: CAMB's ``camb.config.ThreadNum`` sets
OpenMP's thread count, and so torch's, for the rest of the process. :func:`numeric_state` runs
a block from one well-defined state, the same for the same seed and machine whatever ran
before, and gives the caller its own state back afterwards. The pipeline runner enters it
around every unit (:meth:`cmbml.core.Stage.numeric_state`).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["default_threads", "numeric_state"]

#: Environment variable fixing the thread count of the transforms and of torch.
THREADS_VARIABLE = "CMBML_NTHREADS"


def default_threads() -> int:
    """Threads of a unit: ``CMBML_NTHREADS``, else the CPUs this process may run on.

    Raises
    ------
    ValueError
        ``CMBML_NTHREADS`` is not a positive integer.
    """
    text = os.environ.get(THREADS_VARIABLE)
    if text is None:
        affinity = getattr(os, "sched_getaffinity", None)
        return len(affinity(0)) if affinity else os.cpu_count() or 1
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive integer, got {text!r}")
    return int(text)


def _torch_state(torch: Any) -> dict:
    """What :func:`_set_torch` changes, to be put back (CUDA generators only once in use)."""
    cuda = torch.cuda.is_initialized()
    return {
        "threads": torch.get_num_threads(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if cuda else None,
        "dtype": torch.get_default_dtype(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
        "precision": torch.get_float32_matmul_precision(),
    }


def _set_torch(torch: Any, state: dict) -> None:
    torch.set_num_threads(state["threads"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] is not None:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    torch.set_default_dtype(state["dtype"])
    torch.use_deterministic_algorithms(state["deterministic"], warn_only=state["warn_only"])
    torch.backends.cudnn.benchmark = state["benchmark"]
    torch.backends.cudnn.deterministic = state["cudnn_deterministic"]
    torch.backends.cudnn.allow_tf32 = state["cudnn_tf32"]
    torch.backends.cuda.matmul.allow_tf32 = state["matmul_tf32"]
    torch.set_float32_matmul_precision(state["precision"])


def _fixed_torch(torch: Any, seed: int, threads: int) -> None:
    """torch as a fresh process has it, seeded, with ``threads`` threads and cuDNN choosing
    deterministic algorithms (so that GPU reruns repeat as well)."""
    torch.manual_seed(seed % 2**63)
    _set_torch(
        torch,
        {
            "threads": threads,
            "rng": torch.get_rng_state(),
            "cuda_rng": None,
            "dtype": torch.float32,
            "deterministic": False,
            "warn_only": False,
            "benchmark": False,
            "cudnn_deterministic": True,
            "cudnn_tf32": True,
            "matmul_tf32": False,
            "precision": "highest",
        },
    )


@contextmanager
def numeric_state(seed: int, threads: int | None = None) -> Iterator[None]:
    """Run the block from a fixed numeric state; restore the caller's state afterwards.

    Inside the block numpy's and Python's global generators are seeded with ``seed`` and, when
    torch is imported, torch's generators (CPU and CUDA) too; torch uses ``threads`` intra-op
    threads (also OpenMP's and MKL's count), float32 as default dtype and the flags of a fresh
    process, except that cuDNN picks deterministic algorithms and does not benchmark.

    Parameters
    ----------
    seed : int
        Seed of the global generators (any non-negative integer; numpy gets it modulo 2**32,
        torch modulo 2**63).
    threads : int, optional
        Intra-op threads of torch (default :func:`default_threads`).
    """
    threads = default_threads() if threads is None else int(threads)
    torch = sys.modules.get("torch")
    saved_numpy, saved_python = np.random.get_state(), random.getstate()
    saved_torch = _torch_state(torch) if torch is not None else None
    np.random.seed(seed % 2**32)
    random.seed(seed)
    if torch is not None:
        _fixed_torch(torch, seed, threads)
    try:
        yield
    finally:
        np.random.set_state(saved_numpy)
        random.setstate(saved_python)
        if saved_torch is not None:
            _set_torch(torch, saved_torch)
