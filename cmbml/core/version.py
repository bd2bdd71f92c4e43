"""The version of the code that produced a result: the package version and, in a git checkout,
``git describe``."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import cmbml

__all__ = ["code_version"]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``cmbml 0.1.0 (git v0.1-3-gffcc053-dirty)`` in a git checkout of the source, else
    ``cmbml 0.1.0`` (an installed package, or git missing)."""
    text = f"cmbml {cmbml.__version__}"
    source = Path(cmbml.__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return text
    try:
        described = subprocess.run(
            ["git", "-C", str(source), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text} (git {described})" if described else text
