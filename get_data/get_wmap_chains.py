"""Download and extract the WMAP nine-year MCMC chains from LAMBDA.

Files, URLs and checksums are listed in get_data/manifest.yaml (group ``wmap9_chains``). Each
chain set is extracted into its own sub-folder of the destination (one ASCII file per
parameter; the sets share file names but not chain lengths) and its archive is kept.

Examples::

    python get_data/get_wmap_chains.py                       # LCDM + neutrino mass (CMB-ML's)
    python get_data/get_wmap_chains.py --only lcdm lcdm_mnu  # both sets

Default destination: ``<local_system.assets_dir>/wmap9_chains`` (cfg/local_system/default.yaml),
so the default set lands in ``wmap9_chains/lcdm_mnu``, where ``model/sim/cmb=wmap9_chains``
reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from cmbml.download import (
    cli_parser,
    load_manifest,
    local_system_path,
    manifest_files,
    run_cli,
)

GROUP = "wmap9_chains"
MANIFEST = Path(__file__).resolve().with_name("manifest.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the downloader; returns the exit status (0 on success)."""
    parser = cli_parser(__doc__, MANIFEST)
    parser.add_argument(
        "--only", nargs="+", metavar="KEY", help="keys to fetch (default: lcdm_mnu)"
    )
    parser.add_argument(
        "--remove-archive", action="store_true", help="delete the .tar.gz once extracted"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    files = manifest_files(
        load_manifest(args.manifest),
        GROUP,
        keys=args.only,
        base_url=args.base_url,
        source=str(args.manifest),
    )
    dest = args.dest or local_system_path("assets_dir", "wmap9_chains")
    return run_cli(files, dest, args, keep_archive=not args.remove_archive)


if __name__ == "__main__":
    raise SystemExit(main())
