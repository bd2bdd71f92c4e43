"""File handlers: one reader/writer pair per kind of asset, every write atomic.

A catalog entry names its handler (``handler: healpix_map``). Writers write to a temporary file
in the destination folder and rename it into place, so a killed run never leaves a half-written
file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cmbml.core.errors import BadInputError, CmbmlError, UnwritableError

__all__ = ["HANDLERS", "TMP_MARKER", "Handler", "atomic_path", "get_handler"]

#: Part of every temporary file name (``.<stem>.tmp-<pid>-<id><suffix>``).
TMP_MARKER = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (same suffix); rename it to ``path`` on success.

    On error the temporary file is removed and ``path`` is left untouched.

    Raises
    ------
    UnwritableError
        The folder of ``path`` cannot be created or written in (permissions, a read-only file
        system, an immutable folder); the message names the folder and the file.
    """
    path = Path(path)
    tmp = path.with_name(
        f".{path.stem}{TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except PermissionError as exc:
        raise UnwritableError(
            f"cannot write in {path.parent} ({exc.strerror}), so {path.name} was not written: "
            "make the folder writable, or use another local_system.datasets_root"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


class Handler:
    """Reads and writes one kind of file. Subclasses implement ``_read`` and ``_write``."""

    def read(self, path: Path, **options: Any) -> Any:
        path = Path(path)
        try:
            return self._read(path, **options)
        except (CmbmlError, FileNotFoundError):
            raise
        except Exception as exc:  # a corrupt or foreign file: say which
            raise BadInputError(f"cannot read {path} as {type(self).__name__}: {exc}") from exc

    def write(self, path: Path, data: Any, **options: Any) -> list[Path]:
        """Write ``data`` to ``path`` atomically; returns the files written."""
        with atomic_path(Path(path)) as tmp:
            self._write(tmp, data, **options)
        return [Path(path)]

    def _read(self, path: Path, **options: Any) -> Any:
        raise NotImplementedError

    def _write(self, path: Path, data: Any, **options: Any) -> None:
        raise NotImplementedError


STOKES_COLUMNS = {1: ["I_STOKES"], 3: ["I_STOKES", "Q_STOKES", "U_STOKES"]}


class HealpixMap(Handler):
    """HEALPix FITS map: float32 RING on disk with TUNIT; float64 in memory.

    ``read`` returns ``(npix,)`` for one field or ``(n_fields, npix)``; options ``nside`` and
    ``unit`` are checked when given; NaN, infinite and UNSEEN pixels are refused on read and
    write. ``write`` takes ``(npix,)`` or ``(n_fields, npix)``, option ``unit`` (default
    ``"uK_CMB"``) and option ``header``: extra header cards ``{KEY: (value, comment)}``.
    Headers follow the Planck / CMB-ML products: Galactic coordinates (``COORDSYS = 'G'``), the
    COSMO polarisation convention (``POLCCONV``) and columns ``I_STOKES`` (one field) or
    ``I_STOKES, Q_STOKES, U_STOKES`` (three).
    """

    def _read(self, path, nside=None, unit=None, field=None):
        import healpy as hp
        from astropy.io import fits

        with fits.open(path) as hdul:
            header = hdul[1].header
            n_fields = int(header["TFIELDS"])
            found_unit = header.get("TUNIT1", "").strip()
        fields = tuple(range(n_fields)) if field is None else field
        data = np.asarray(hp.read_map(path, field=fields, dtype=np.float64), dtype=np.float64)
        found_nside = hp.npix2nside(data.shape[-1])
        if nside is not None and found_nside != int(nside):
            raise BadInputError(f"{path}: map has nside {found_nside}, expected nside {nside}")
        if unit is not None and found_unit != unit:
            raise BadInputError(f"{path}: map unit is '{found_unit}', expected '{unit}'")
        bad = _bad_pixels(data)
        if bad:
            raise BadInputError(f"{path}: map contains {bad}")
        return data

    def _write(self, path, data, unit="uK_CMB", column_names=None, header=None):
        import healpy as hp

        data = np.asarray(data)
        bad = _bad_pixels(data)
        if bad:
            raise BadInputError(f"refusing to write {path}: map contains {bad}")
        n_fields = 1 if data.ndim == 1 else data.shape[0]
        if column_names is None and n_fields in STOKES_COLUMNS:
            column_names = STOKES_COLUMNS[n_fields]
        hp.write_map(
            str(path),
            data,
            dtype=np.float32,
            coord="G",
            column_units=unit,
            column_names=column_names,
            extra_header=[
                ("POLCCONV", "COSMO", "polarisation convention (Planck: COSMO)"),
                *((key, value, comment) for key, (value, comment) in (header or {}).items()),
            ],
            overwrite=True,
        )


def _bad_pixels(data: np.ndarray) -> str:
    """What makes a map unusable: NaN or infinite values, healpy's UNSEEN (missing pixels,
    -1.6375e30); empty when none."""
    import healpy as hp

    found = []
    if not np.all(np.isfinite(data)):
        found.append("NaN or infinite values")
    if np.any(np.abs(data - hp.UNSEEN) <= 1e-5 * abs(hp.UNSEEN)):
        found.append(f"UNSEEN pixels ({hp.UNSEEN:g}, healpy's missing-pixel value)")
    return " and ".join(found)


class Numpy(Handler):
    """``.npy`` arrays; option ``mmap_mode`` on read (e.g. ``"r"``)."""

    def _read(self, path, mmap_mode=None):
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)

    def _write(self, path, data):
        with open(path, "wb") as fh:
            np.save(fh, np.asarray(data), allow_pickle=False)


class Yaml(Handler):
    """YAML documents (plain dicts/lists of numbers and strings)."""

    def _read(self, path):
        with open(path) as fh:
            return yaml.safe_load(fh)

    def _write(self, path, data):
        with open(path, "w") as fh:
            yaml.safe_dump(_plain(data), fh, sort_keys=False)


class Json(Handler):
    """JSON documents."""

    def _read(self, path):
        with open(path) as fh:
            return json.load(fh)

    def _write(self, path, data):
        with open(path, "w") as fh:
            json.dump(_plain(data), fh, indent=2)


class Csv(Handler):
    """CSV tables as pandas DataFrames (written without the index)."""

    def _read(self, path):
        import pandas as pd

        return pd.read_csv(path)

    def _write(self, path, data):
        data.to_csv(path, index=False)


class Text(Handler):
    """Plain text (Markdown, LaTeX, ...)."""

    def _read(self, path):
        return Path(path).read_text()

    def _write(self, path, data):
        Path(path).write_text(data)


class TorchCheckpoint(Handler):
    """``torch.save`` dictionaries (model/optimiser/scheduler state, RNG states)."""

    def _read(self, path, map_location="cpu"):
        import torch

        return torch.load(path, map_location=map_location, weights_only=False)

    def _write(self, path, data):
        import torch

        torch.save(data, path)


class Figure(Handler):
    """matplotlib figures, saved by suffix; option ``also=["pdf"]`` writes sibling formats.

    Files carry no creation date, so the same figure gives the same bytes on every run.
    """

    def _read(self, path):
        return Path(path).read_bytes()

    def write(self, path, data, also=(), dpi=120):
        import matplotlib.pyplot as plt

        path = Path(path)
        targets = [path] + [path.with_suffix(f".{ext}") for ext in also]
        fixed = {"pdf": {"CreationDate": None}, "png": {"Software": None}}
        try:
            for target in targets:
                with atomic_path(target) as tmp:
                    data.savefig(
                        tmp,
                        dpi=dpi,
                        bbox_inches="tight",
                        metadata=fixed.get(target.suffix.lstrip(".").lower()),
                    )
        finally:
            plt.close(data)
        return targets


def _plain(data: Any) -> Any:
    """Convert numpy scalars/arrays and OmegaConf containers to plain Python for YAML/JSON."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(data, DictConfig | ListConfig):
        return OmegaConf.to_container(data, resolve=True)
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    if isinstance(data, np.ndarray):
        return data.tolist()
    if isinstance(data, np.generic):
        return data.item()
    return data


HANDLERS: dict[str, Callable[[], Handler]] = {
    "healpix_map": HealpixMap,
    "numpy": Numpy,
    "yaml": Yaml,
    "json": Json,
    "csv": Csv,
    "text": Text,
    "torch": TorchCheckpoint,
    "figure": Figure,
}


def get_handler(name: str) -> Handler:
    """Instantiate the handler registered under ``name``."""
    try:
        return HANDLERS[name]()
    except KeyError:
        raise CmbmlError(
            f"unknown handler '{name}'; known handlers: {', '.join(sorted(HANDLERS))}"
        ) from None
