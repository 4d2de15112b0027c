"""``fsync check CAPTURE --vendor V``: replay a capture through the model of a profile and
report every deviation. Wiring only: reading is ``trace.capture``, judging ``trace.replay``,
the report ``trace.report``."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fsync_model.cli.common import add_vendor_arg, resolve_vendor
from fsync_model.cli.main import EXIT_OK, UsageError
from fsync_model.profile import PolicyMode
from fsync_model.trace.capture import CaptureError, open_capture
from fsync_model.trace.report import check_messages
from fsync_model.trace.rules import RULES, rule_families

DESCRIPTION = """\
Replay a capture (pcap or pcapng from Wireshark/tshark/tcpdump, gzip too, or a plain-text
SIP log) through the model of a vendor profile, per phone line (user) and per dialog or
subscription, and report every deviation with its rule id, packet number and time, the
message's first line and what was expected instead.

Three oracles: the strict RFC 3261/6665 checker on every message and request/response pair;
the profile's body rules (namespace, forwardingType, true/false literals, ring-count range,
Content-Type); and the model: every feature-sync message becomes an input of the profile's
transition tables (body-less SUBSCRIBE, set request, unsubscribe, full-state and change
NOTIFYs, confirming NOTIFY with the new or the OLD state, code INVITEs, challenges...), and
what a table does not allow is a deviation, as is a flow that fails, a set request without an
active subscription, an incomplete full state, and phone and server disagreeing at the end.
Retransmissions are not deviations; non-SIP packets are skipped and counted; a damaged
capture is reported, never crashed on.
"""

EPILOG = """\
exit codes: 0 conformant, 1 deviations (errors; warnings too with --strict), 2 unreadable
capture or usage error, 3 inconclusive (no SIP message, or none of --user).

JSON (--format json) for CI: {"capture", "vendor", "policy", "user", "summary": {...,
"errors", "warnings", "conformant", "exit"}, "deviations": [{"rule", "packet", "time",
"message", "expected", "severity", "user", "evidence"}]}. Fields may be added, never renamed.

examples:
  fsync check lab.pcapng --vendor broadsoft
  fsync check yealink.pcap --vendor metaswitch --user 1001 --format json
  fsync check sipp_messages.log --vendor yeastar --strict
  fsync check --list-rules
"""


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name, help="replay a capture through a profile's model and report deviations",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture", nargs="?", metavar="CAPTURE",
                        help="pcap, pcapng (optionally gzip-compressed) or a SIP text log")
    add_vendor_arg(parser, required=False)
    parser.add_argument("--user", metavar="U",
                        help="check only this line's messages (its user part, e.g. 1001)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="report format on stdout (default text)")
    parser.add_argument("--strict", action="store_true",
                        help="warnings (e.g. forwardTo omitted when off) also make exit 1")
    parser.add_argument("--policy", choices=[m.value for m in PolicyMode],
                        help="the server's policy for phone changes, when the server under "
                             "test is configured otherwise than the profile says (reject: "
                             "2xx then NOTIFY with the old state; error: the policy status)")
    parser.add_argument("--verbose", action="store_true",
                        help="also list info-level findings (accepted variants)")
    parser.add_argument("--list-rules", action="store_true",
                        help="print every rule id with its description and exit")
    parser.set_defaults(run=run)


def _list_rules() -> int:
    for family, ids in rule_families().items():
        print(f"{family}:")
        for rule in ids:
            print(f"  {rule:28} {RULES[rule]}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.list_rules:
        return _list_rules()
    if args.capture is None:
        raise UsageError("which capture? e.g. fsync check lab.pcapng --vendor broadsoft")
    if args.vendor is None:
        raise UsageError(f"--vendor is required, e.g. fsync check {args.capture} "
                         "--vendor broadsoft (see `fsync list`)")
    profile = resolve_vendor(args)
    if args.policy is not None:
        profile = profile.with_policy(PolicyMode(args.policy))
    try:
        messages, summary = open_capture(args.capture)
    except CaptureError as error:
        raise UsageError(f"cannot read the capture: {error}") from None
    report = check_messages(args.capture, messages, summary, profile, user=args.user,
                            strict=args.strict, verbose=args.verbose)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(report.text())
    return report.exit_code
