"""Run a pipeline and kill this process with SIGKILL at a chosen atomic write.

Usage: ``python -m tests.core.crash_run '<json>'`` with keys ``config`` (primary config name),
``overrides`` (list), ``match`` (a substring of the written file's final path; "" for any),
``nth`` (1-based count of matching writes; 0: no kill, a plain run) and ``phase``:
``written`` (the temporary file is complete, not yet renamed) or ``renamed`` (the file is in
place, the unit's manifest not yet written). Manifests are written atomically too, so
``match: "Manifests"`` kills around them.
The kill is a real ``SIGKILL`` of this process: no exception handler, no ``finally`` runs.
"""

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from cmbml.core import compose, handlers, manifests, run_pipeline

REPO = Path(__file__).resolve().parents[2]


def command(spec: dict) -> list[str]:
    """The command line running this module with ``spec`` (to run with ``cwd=REPO``)."""
    return [sys.executable, "-m", "tests.core.crash_run", json.dumps(spec)]


def products(folder: Path) -> dict[str, Path]:
    """The files of dataset ``folder`` by relative path, less manifests, logs and hidden files
    (temporaries, the lock)."""
    return {
        str(p.relative_to(folder)): p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.relative_to(folder).parts[0] not in ("Manifests", "Logs")
        and p.name[0] != "."
    }


def run_killed(spec: dict, timeout: float) -> None:
    """Run ``spec`` in a subprocess and check that it died by its own SIGKILL."""
    proc = subprocess.run(command(spec), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def install(match: str, nth: int, phase: str) -> None:
    """Wrap the atomic writer of the handlers and of the manifests with the kill switch."""
    real = handlers.atomic_path
    seen = 0

    @contextmanager
    def killing(path):
        nonlocal seen
        hit = False
        with real(path) as tmp:
            yield tmp
            if match in str(path):
                seen += 1
                hit = seen == nth
            if hit and phase == "written":
                os.kill(os.getpid(), signal.SIGKILL)
        if hit and phase == "renamed":
            os.kill(os.getpid(), signal.SIGKILL)

    handlers.atomic_path = killing
    manifests.atomic_path = killing


def main() -> None:
    spec = json.loads(sys.argv[1])
    install(spec.get("match", ""), int(spec["nth"]), spec.get("phase", "written"))
    run_pipeline(compose(spec["config"], spec["overrides"]))
    if spec["nth"]:
        sys.exit(3)  # the kill point was never reached


if __name__ == "__main__":
    main()
