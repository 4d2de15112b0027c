"""The ``fsync`` command: one sub-command per module in this package, wiring only.

Exit codes are a contract with users' lab scripts: 0 success / conformant, 1 a failure or a
violated rule, 2 a usage or set-up error (bad option, unreadable input), 3 inconclusive.
Misuse never shows a traceback: it says what to type instead.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from fsync_model import __version__

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3

#: command name -> module under fsync_model.cli providing register(subparsers) and run(args)
COMMANDS: dict[str, str] = {
    "list": "list_cmd",
    "serve": "serve_cmd",
    "phone": "phone_cmd",
    "demo": "demo_cmd",
    "generate": "generate_cmd",
    "test": "test_cmd",
    "diagrams": "diagrams_cmd",
    "diagram": "diagram_cmd",
    "check": "check_cmd",
    "export-sipp": "export_sipp_cmd",
}


class UsageError(Exception):
    """A user mistake on the command line; the message says what to type instead."""


class FsyncArgumentParser(argparse.ArgumentParser):
    """argparse with a hint for mistyped commands and exit code 2 for misuse."""

    def error(self, message: str) -> NoReturn:
        hint = ""
        if "invalid choice" in message and "'" in message:
            wrong = message.split("'")[1]
            close = difflib.get_close_matches(wrong, list(_available()), n=1)
            if close:
                hint = f"\n  did you mean: fsync {close[0]} ...?"
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}{hint}\n"
                         f"  see: {self.prog} --help\n")
        raise SystemExit(EXIT_USAGE)


def _available(only: str | None = None) -> dict[str, object]:
    """The commands whose module exists (commands land one issue at a time); with ``only``,
    that command's alone."""
    found: dict[str, object] = {}
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            continue
        try:
            found[name] = importlib.import_module(f"fsync_model.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"fsync_model.cli.{module}":
                raise
    return found


class _Version(argparse.Action):
    """``fsync --version``: the version, and which modules are compiled with mypyc (imports
    them, so only when asked)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> NoReturn:
        from fsync_model import _compiled

        parser.exit(message=f"fsync {__version__}\nSIP hot path: {_compiled.status()}\n")


def build_parser(only: str | None = None) -> FsyncArgumentParser:
    """The parser of every command, or of the command ``only`` (then only its module is
    imported: ``fsync serve`` does not load what ``fsync generate`` or ``fsync test``
    need, which is time and memory a long-running server would carry for nothing)."""
    parser = FsyncArgumentParser(
        prog="fsync",
        description="Feature sync (DND, call forwarding) over SIP as formal state machines: "
        "reference agents, property-based and generated tests, capture checks, diagrams.",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the version and whether the SIP hot path is compiled")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=FsyncArgumentParser)
    for name, module in _available(only).items():
        module.register(sub, name)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    chosen = words[0] if words and words[0] in COMMANDS else None
    parser = build_parser(chosen)
    args = parser.parse_args(words)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    run = args.run
    try:
        return int(run(args))
    except UsageError as exc:
        sys.stderr.write(f"fsync {args.command}: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader (head, less) went away: not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's main, not this __main__ copy: the command modules import
    # fsync_model.cli.main, and its UsageError must be the one main() catches.
    from fsync_model.cli.main import main as _main

    raise SystemExit(_main())
