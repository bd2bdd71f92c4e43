"""Download the Planck PR3 frequency maps (30-857 GHz, full mission) and the NILC CMB map.

Files, URLs and checksums are listed in get_data/manifest.yaml (group ``planck_assets``).
About 12 GB in all; interrupted downloads resume when the script is run again.

Examples::

    python get_data/get_planck_assets.py                        # all ten files
    python get_data/get_planck_assets.py --only 100 143 nilc    # a few
    python get_data/get_planck_assets.py --list

Default destination: ``<local_system.assets_dir>/planck`` (cfg/local_system/default.yaml).
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

GROUP = "planck_assets"
MANIFEST = Path(__file__).resolve().with_name("manifest.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the downloader; returns the exit status (0 on success)."""
    parser = cli_parser(__doc__, MANIFEST)
    parser.add_argument("--only", nargs="+", metavar="KEY", help="keys to fetch (default: all)")
    parser.add_argument("--list", action="store_true", help="list keys and URLs, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    files = manifest_files(
        load_manifest(args.manifest),
        GROUP,
        keys=args.only,
        base_url=args.base_url,
        source=str(args.manifest),
    )
    if args.list:
        for remote in files:
            print(f"{remote.key:>6}  {remote.url}")
        return 0
    return run_cli(files, args.dest or local_system_path("assets_dir", "planck"), args)


if __name__ == "__main__":
    raise SystemExit(main())
