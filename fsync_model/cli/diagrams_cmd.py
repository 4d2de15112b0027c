"""``fsync diagrams``: write (or ``--check``) the guide's figures for every profile. Wiring
only: the figures are ``diagrams.index``, the files ``diagrams.writer``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from fsync_model.cli.common import add_spec_arg, load_profiles
from fsync_model.cli.main import EXIT_FAIL, EXIT_OK, UsageError
from fsync_model.diagrams.statediagram import DOT_MISSING
from fsync_model.diagrams.writer import compare_trees, diagram_files, write_tree

DESCRIPTION = """\
Draw the figures the vendor guide lost, for every profile in spec/: per flow (registration,
the line setting, the subscription, each feature in each direction) the state diagram of its
transition table (SVG and DOT) and its ladder (SVG, Mermaid, PlantUML, and the message text),
plus an index page, diagrams/README.md, laid out like the guide. Every file is stamped
"generated from spec/<file> by fsync diagrams" and the output is deterministic.
"""

EPILOG = """\
--check regenerates into a temporary folder and compares byte for byte: exit 0 when the
folder is up to date, 1 listing stale, missing and extra files. State SVGs need graphviz's
dot; without it only the DOT files are written (and --check leaves state SVGs out).

examples:
  fsync diagrams
  fsync diagrams --out docs/figures
  fsync diagrams --check
"""


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="write the state diagrams and ladders of every profile (or check them)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", metavar="DIR", default="diagrams", help="output folder (default: diagrams/)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write: exit 1 if DIR differs from what would be written",
    )
    add_spec_arg(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a folder")
    generated = diagram_files(load_profiles(args).values())
    if generated.svg_skipped:
        print(DOT_MISSING, file=sys.stderr)
    if args.check:
        with tempfile.TemporaryDirectory(prefix="fsync-diagrams-") as fresh:
            write_tree(generated.files, Path(fresh))
            diff = compare_trees(Path(fresh), out, ignore_state_svg=generated.svg_skipped)
        if diff.clean:
            print(f"{out}/ is up to date ({len(generated.files)} files)")
            return EXIT_OK
        for line in diff.lines():
            print(line)
        print(f"{out}/ is out of date: run `fsync diagrams --out {out}`")
        return EXIT_FAIL
    try:
        removed = write_tree(generated.files, out)
    except OSError as error:
        raise UsageError(f"cannot write to {out}: {error.strerror or error}") from None
    for path in removed:
        print(f"removed {path} (no longer generated)")
    print(
        f"wrote {len(generated.files)} files to {out}/: {generated.figures} figures of "
        f"{generated.systems} systems, index {out / 'README.md'}"
    )
    return EXIT_OK
