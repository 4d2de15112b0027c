"""``fsync export-sipp --vendor V -o DIR``: SIPp scenarios of a profile's flows, for each role.
Wiring only: the scenarios are ``generate.sipp``."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fsync_model.cli.common import add_vendor_arg, resolve_vendor
from fsync_model.cli.main import EXIT_OK, UsageError
from fsync_model.generate.sipp import ROLES, Role, csv_name, export, parse_flow

DESCRIPTION = """\
Write SIPp XML scenarios for the flows of a vendor profile, derived from the model's
transition tables: each step of a flow's happy path becomes a <send> or a <recv> as the role
sees it (role phone: SIPp plays the phone against a real server; role server: SIPp plays the
server against a real phone), after the set-up (REGISTER with the profile's digest
challenge, the initial SUBSCRIBE and its full state, or the uaCSTA session). The profile's
wire details are used throughout (Event, Accept, Content-Type, namespace, 200 vs 202,
multipart or per-feature full state, feature codes), received bodies are checked with ereg,
and the variants the wire allows are optional receives (100 Trying, a NOTIFY before the
200, a challenge the server may send). Beside the scenarios: one injection CSV per flow
([field0] user, [field1] forward-to number, [field2] digest password, [field3] SIPp's
[authentication] keyword with them) and a README with the command line of each scenario.
Every file is stamped "generated from spec/<file> by fsync export-sipp".
"""

EPILOG = """\
flows: all (default), a machine key (broadsoft/dnd/phone-initiated) or a short form
(dnd-phone, cfna-server, dnd/phone-initiated). See `fsync list` for the flows of a profile.

examples:
  fsync export-sipp --vendor broadsoft -o sipp/
  fsync export-sipp --vendor yeastar --flow cfa-phone --role phone -o sipp/
  sipp 192.0.2.10:5060 -sf sipp/cfa-phone-initiated.phone.xml -inf sipp/cfa-phone-initiated.csv -m 1
"""


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name, help="write SIPp scenarios of a profile's flows (as the phone and as the server)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_vendor_arg(parser)
    parser.add_argument("--flow", default="all", metavar="NAME",
                        help="the flow to export: all (default), broadsoft/dnd/phone-initiated "
                             "or a short form such as dnd-phone")
    parser.add_argument("--role", choices=ROLES, action="append",
                        help="the side SIPp plays (repeatable; default both)")
    parser.add_argument("-o", "--out", required=True, metavar="DIR",
                        help="folder to write the scenarios into (created if missing)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = resolve_vendor(args)
    try:
        flows = parse_flow(profile, args.flow)
    except ValueError as error:
        raise UsageError(f"--flow {args.flow}: {error}") from None
    roles: list[Role] = args.role or list(ROLES)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: not a folder")
    scenarios, files = export(profile, flows, list(dict.fromkeys(roles)))
    try:
        out.mkdir(parents=True, exist_ok=True)
        for item in files:
            (out / item.name).write_text(item.text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write to {out}: {error.strerror or error}") from None
    for scenario in scenarios:
        csv = str(out / csv_name(scenario.flow))
        for step in scenario.runs:
            command = step.command(csv).replace(f"-sf {step.scenario}",
                                                f"-sf {out / step.scenario}")
            print(f"{scenario.flow.name} ({scenario.role}): {command}")
    print(f"wrote {len(files)} files ({len(scenarios)} scenario(s) of {len(flows)} flow(s)) "
          f"to {out}/")
    return EXIT_OK
