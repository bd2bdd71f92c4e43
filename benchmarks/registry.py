"""Registry of benchmark functions (``@benchmark("name")``)."""

from __future__ import annotations

from collections.abc import Callable

BENCHMARKS: dict[str, Callable[[], dict]] = {}


def benchmark(name: str) -> Callable[[Callable[[], dict]], Callable[[], dict]]:
    """Register ``fn`` under ``name``; ``fn()`` returns a dict of measured values.

    If the dict has ``wall_s`` it replaces the runner's timing of the whole call (so setup can be
    excluded); other keys (``samples_per_s``, ``nside``, ...) are reported as they are.
    """

    def register(fn: Callable[[], dict]) -> Callable[[], dict]:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark '{name}' is registered twice")
        BENCHMARKS[name] = fn
        return fn

    return register
