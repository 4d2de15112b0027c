"""``fsync generate``: write (or ``--check``) the regression suites of every profile. Wiring
only: the cases are ``generate.suites``, the files ``generate.templates``."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from fsync_model.cli.common import add_spec_arg, load_profiles
from fsync_model.cli.main import EXIT_FAIL, EXIT_OK, UsageError
from fsync_model.generate.templates import compare_suite, suite_files, write_suite

DESCRIPTION = """\
Write the regression suites of every profile in spec/ as plain pytest modules: one per
(system, feature, direction), plus the system's negative cases (bad bodies, policy
rejection, 489, loss, timeouts). Each test has a stable test-purpose id (TP/BSFT/DND/SRV/001),
its purpose and expected ladder in its docstring, and calls the fsync_target fixture of the
fsync pytest plugin. Every file is stamped "generated from spec/<file> by fsync generate"
and the output is deterministic.
"""

EPILOG = """\
--check regenerates into a temporary folder and compares byte for byte: exit 0 when the
folder is up to date, 1 listing stale, missing and extra files.

examples:
  fsync generate
  fsync generate --check
  pytest generated_tests -n auto
"""


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="write the generated regression suites of every profile (or check them)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", metavar="DIR", default="generated_tests",
                        help="output folder (default: generated_tests/)")
    parser.add_argument("--check", action="store_true",
                        help="do not write: exit 1 if DIR differs from what would be written")
    add_spec_arg(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a folder")
    suite = suite_files(load_profiles(args).values())
    if args.check:
        with tempfile.TemporaryDirectory(prefix="fsync-generate-") as fresh:
            write_suite(suite.files, Path(fresh))
            diff = compare_suite(Path(fresh), out)
        if diff.clean:
            print(f"{out}/ is up to date ({len(suite.files)} files, {suite.cases} tests)")
            return EXIT_OK
        for line in diff.lines():
            print(line)
        print(f"{out}/ is out of date: run `fsync generate --out {out}`")
        return EXIT_FAIL
    try:
        removed = write_suite(suite.files, out)
    except OSError as error:
        raise UsageError(f"cannot write to {out}: {error.strerror or error}") from None
    for path in removed:
        print(f"removed {path} (no longer generated)")
    print(f"wrote {len(suite.files)} files to {out}/: {suite.cases} tests in "
          f"{len(suite.modules)} modules")
    return EXIT_OK
