"""``fsync diagram --from-pcap FILE``: the ladder of a capture. Wiring only: reading is
``trace.capture``, the drawing is ``diagrams.messages`` and ``diagrams.writer``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Final, cast

from fsync_model.cli.main import EXIT_FAIL, EXIT_OK, UsageError
from fsync_model.diagrams.ladder import Note
from fsync_model.diagrams.messages import ladder_from_messages, select_messages
from fsync_model.diagrams.writer import LADDER_FORMATS, LADDER_SUFFIXES, LadderFormat, render_ladder
from fsync_model.trace.capture import CapturedMessage, CaptureError, CaptureSummary, open_capture

DESCRIPTION = """\
Draw the ladder (sequence) diagram of the SIP messages in a capture: a pcap or pcapng file
(Wireshark, tshark, tcpdump; gzip-compressed too) or a text log of SIP messages (SIPp,
baresip, Asterisk). One lifeline per endpoint, one arrow per message with its packet number,
time offset, key headers and the feature values of its body (doNotDisturbOn, forwardTo...).
Retransmissions are dashed; messages that do not parse are red, with the reason.
"""

EPILOG = """\
formats: svg (default), mermaid (.mmd), plantuml (.puml), txt (an ASCII ladder, printed on
stdout unless -o is given). Without -o the file goes next to the capture: FILE.ladder.svg.

examples:
  fsync diagram --from-pcap dnd.pcapng
  fsync diagram --from-pcap lab.pcap --user 1001 --format txt
  fsync diagram --from-pcap lab.pcap --call-id 3c26700f -o dnd.mmd
"""

#: Extensions that choose a format when --format is not given.
_FORMAT_OF_SUFFIX: Final = {
    ".svg": "svg",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".puml": "plantuml",
    ".plantuml": "plantuml",
    ".txt": "txt",
}
#: Capture problems drawn as notes; more are counted on stderr only.
MAX_PROBLEM_NOTES: Final = 20
_PROBLEM_PACKET_RE: Final = re.compile(r"^packet (\d+):")


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="draw the ladder diagram of a capture",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--from-pcap",
        required=True,
        metavar="FILE",
        help="capture to draw: pcap, pcapng or a SIP text log",
    )
    parser.add_argument(
        "--user",
        metavar="U",
        help="keep the messages whose From, To or Request-URI user is U (e.g. 1001)",
    )
    parser.add_argument(
        "--call-id",
        metavar="ID",
        help="keep one dialog: its Call-ID, or the first characters the ladder shows",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="file to write ('-' for stdout); default: FILE.ladder.<ext> beside the capture",
    )
    parser.add_argument(
        "--format",
        choices=LADDER_FORMATS,
        help="output format (default: from OUT's extension, else svg)",
    )
    parser.add_argument("--title", help="diagram title (default: the capture's file name)")
    parser.set_defaults(run=run)


def _format(args: argparse.Namespace) -> LadderFormat:
    if args.format:
        return cast(LadderFormat, args.format)
    if args.output and args.output != "-":
        suffix = Path(args.output).suffix.lower()
        if suffix in _FORMAT_OF_SUFFIX:
            return cast(LadderFormat, _FORMAT_OF_SUFFIX[suffix])
        known = ", ".join(sorted(_FORMAT_OF_SUFFIX))
        raise UsageError(
            f"-o {args.output}: cannot tell the format from {suffix or 'no extension'!r}; "
            f"use one of {known} or add --format {{{','.join(LADDER_FORMATS)}}}"
        )
    return "svg"


def _problem_notes(
    problems: list[str], messages: list[CapturedMessage], over: tuple[str, ...]
) -> list[tuple[int, Note]]:
    """Damage the reader skipped, as notes placed where it happened in packet order."""
    notes: list[tuple[int, Note]] = []
    for problem in problems[:MAX_PROBLEM_NOTES]:
        match = _PROBLEM_PACKET_RE.match(problem)
        packet = int(match.group(1)) if match else 0
        position = next(
            (i for i, message in enumerate(messages) if message.number > packet), len(messages)
        )
        notes.append((position, Note(over, problem, "finding")))
    return notes


def _caption(path: Path, summary: CaptureSummary, shown: int, args: argparse.Namespace) -> str:
    kept = [
        f"user {args.user}" if args.user else "",
        f"Call-ID {args.call_id}" if args.call_id else "",
    ]
    filters = " and ".join(k for k in kept if k)
    which = f" ({filters}: {shown} of {summary.messages})" if filters else ""
    return (
        f"{shown} SIP messages{which} from {path.name} ({summary.format}, {summary.packets} "
        f"packets). Left margin: packet number and time since the first message shown."
    )


def run(args: argparse.Namespace) -> int:
    path = Path(args.from_pcap)
    fmt = _format(args)
    try:
        messages, summary = open_capture(path)
    except CaptureError as error:
        raise UsageError(f"cannot read the capture: {error}") from None
    for problem in summary.problems:
        sys.stderr.write(f"fsync diagram: warning: {problem}\n")
    selected = select_messages(messages, user=args.user, call_id=args.call_id)
    if not selected:
        why = " matching the filters" if args.user or args.call_id else ""
        sys.stderr.write(
            f"fsync diagram: no SIP messages{why} in {path} ({summary.format}, "
            f"{summary.packets} packets, {summary.messages} SIP messages)\n"
        )
        return EXIT_FAIL
    addresses: list[str] = []
    for message in selected:
        for address in (str(message.src), str(message.dst)):
            if address not in addresses:
                addresses.append(address)
    ladder = ladder_from_messages(
        selected,
        title=args.title or f"Ladder of {path.name}",
        caption=_caption(path, summary, len(selected), args),
        notes=_problem_notes(summary.problems, selected, tuple(addresses)),
    )
    text = render_ladder(ladder, fmt)
    output = args.output
    if output is None and fmt == "txt":
        output = "-"
    if output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    target = Path(output) if output else path.with_name(f"{path.name}.ladder{LADDER_SUFFIXES[fmt]}")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    print(f"ladder of {len(selected)} messages written to {target}")
    return EXIT_OK
