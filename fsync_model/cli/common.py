"""Helpers every command shares: choosing profiles (``--vendor``, ``--spec``)."""
from __future__ import annotations

import argparse
import difflib

from fsync_model.cli.main import UsageError
from fsync_model.profile import Profile, ProfileError, load_all


def add_spec_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", metavar="DIR", default=None,
                        help="folder of profile YAML files (default: the repo's spec/, "
                             "or $FSYNC_SPEC_DIR)")


def add_vendor_arg(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--vendor", required=required, metavar="V",
                        help="profile id from spec/ (see `fsync list`), e.g. broadsoft")
    add_spec_arg(parser)


def load_profiles(args: argparse.Namespace) -> dict[str, Profile]:
    """Every profile; a broken profile is a usage error naming file, line and field."""
    try:
        return load_all(getattr(args, "spec", None))
    except ProfileError as exc:
        raise UsageError(str(exc)) from exc


def resolve_vendor(args: argparse.Namespace, name: str | None = None) -> Profile:
    """The profile named by ``--vendor`` (or ``name``); unknown names list the known ones."""
    profiles = load_profiles(args)
    wanted = name if name is not None else args.vendor
    if wanted in profiles:
        return profiles[wanted]
    close = difflib.get_close_matches(str(wanted), list(profiles), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"unknown vendor {wanted!r}{hint}; known: {', '.join(profiles)}")
