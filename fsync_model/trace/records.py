"""What reading a capture produces: SIP messages with where and when, and a summary.

Shared by the pcap/pcapng reader, the TCP reassembler and the text-log reader, so that every
source of traces hands the same records to the replay and checking code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fsync_model.transport.address import Address


class CaptureError(Exception):
    """The input is not a capture at all, or cannot be read (the CLI exits with code 2).

    Damage inside a capture (a truncated last packet, a corrupt block, a bad length) is not
    an error: it is listed in :attr:`CaptureSummary.problems` and reading goes on.
    """


@dataclass(frozen=True)
class CapturedMessage:
    """One SIP message found in a trace.

    ``number`` is the 1-based number of the packet that completed the message, as Wireshark
    numbers frames (for text logs: the message's position in the log); ``time`` is absolute
    seconds since the Unix epoch; ``data`` is exactly one SIP message.
    """

    number: int
    time: float
    src: Address
    dst: Address
    data: bytes


@dataclass
class CaptureSummary:
    """Counts and problems from reading one trace.

    ``problems`` are human-readable lines, each starting with the packet number concerned
    (``"packet 12: ..."``), describing damage that was skipped over: a truncated or corrupt
    record, a bad length, a TCP gap, a stream that lost SIP framing.
    """

    #: ``"pcap"``, ``"pcapng"`` or ``"text"``.
    format: str
    #: Packets (frames) read; for a text log, the message entries found.
    packets: int = 0
    #: SIP messages returned.
    messages: int = 0
    #: UDP datagrams and TCP segments whose payload is not SIP (it does not start with a
    #: request line ``METHOD uri SIP/2.0`` or a status line ``SIP/2.0 NNN``).
    non_sip: int = 0
    #: Packets with no UDP or TCP payload to look at: other link or network protocols,
    #: bare TCP handshakes and acknowledgements.
    other: int = 0
    #: IP fragments skipped (IP reassembly is not done).
    fragments: int = 0
    #: TCP segments that only repeated data already seen.
    retransmissions: int = 0
    problems: list[str] = field(default_factory=list)
