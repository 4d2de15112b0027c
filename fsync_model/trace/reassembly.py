"""TCP reassembly per direction, then SIP framing: segments in, whole SIP messages out.

Each direction of a connection is a byte stream rebuilt by sequence number: segments that
arrive early wait until the gap before them is filled, retransmitted and overlapping bytes
are dropped (the first copy wins, as in Wireshark's default). The rebuilt stream is cut into
messages by :class:`fsync_model.sip.framing.StreamFramer`.

A stream does not always start at a message boundary (the capture began mid-connection, a
segment was never captured, or the peer is not speaking SIP), so until a SIP start line is
seen at the beginning of a line the stream is *hunting*: bytes are discarded and the packets
they came in are counted as non-SIP. Framing errors and unfillable gaps are reported as
problems and send the stream back to hunting.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from typing import Final

from fsync_model.sip.errors import SipParseError
from fsync_model.sip.framing import StreamFramer
from fsync_model.trace.records import CapturedMessage
from fsync_model.transport.address import Address

#: A SIP start line: a request line (RFC 3261 section 7.1, method token, URI, version) or a
#: status line (section 7.2). Case-insensitive, as ABNF literals are.
SIP_START_LINE: Final = re.compile(
    rb"(?:[-A-Za-z0-9.!%*_+`'~]+ [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 [0-9]{3}[ \r\n])", re.IGNORECASE
)
# A start line at the beginning of a line; the hunted text is prefixed with "\n" when it
# begins at a line start.
_START_AFTER_NEWLINE: Final = re.compile(rb"(?<=\n)" + SIP_START_LINE.pattern, re.IGNORECASE)
#: While hunting, the unfinished last line kept to find a start line split across segments.
_MAX_HUNT_TAIL: Final = 8192
#: Out-of-order data held back waiting for a missing segment before giving up on it.
MAX_PENDING_BYTES: Final = 4 * 1024 * 1024
MAX_PENDING_SEGMENTS: Final = 4096

_SYN: Final = 0x02
_WRAP: Final = 1 << 32
_HALF: Final = 1 << 31


@dataclass
class _Direction:
    """One direction of one connection."""

    src: Address
    dst: Address
    #: Sequence number (mod 2**32) and stream offset of the next byte expected.
    next_seq: int
    next_offset: int = 0
    #: The sequence number of the SYN that opened the stream, if it was captured.
    syn_seq: int | None = None
    #: Segments ahead of a gap: (stream offset, arrival order, data, packet number, time).
    pending: list[tuple[int, int, bytes, int, float]] = field(default_factory=list)
    pending_bytes: int = 0
    #: None while hunting for a start line.
    framer: StreamFramer | None = None
    hunt_tail: bytes = b""
    at_line_start: bool = True
    #: The last packet counted as non-SIP, so that a packet is counted once.
    counted_non_sip: int = 0


class TcpReassembler:
    """Turns TCP segments (in capture order) into SIP messages, per connection direction.

    Feed every TCP segment, payload or not, to :meth:`segment`; call :meth:`finish` after
    the last one to flush data stuck behind gaps and report unfinished messages. Problems go
    to the ``problems`` list given at construction, counters to :attr:`non_sip` and
    :attr:`retransmissions`.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        #: Packets whose TCP payload was discarded as not SIP.
        self.non_sip = 0
        #: Segments whose payload had been seen already.
        self.retransmissions = 0
        self._directions: dict[tuple[Address, Address], _Direction] = {}
        self._arrivals = 0

    def segment(
        self,
        number: int,
        time: float,
        src: Address,
        dst: Address,
        seq: int,
        flags: int,
        payload: bytes,
    ) -> list[CapturedMessage]:
        """Take one segment of packet ``number``; return the messages it completes."""
        key = (src, dst)
        direction = self._directions.get(key)
        if flags & _SYN:
            first = (seq + 1) % _WRAP
            if direction is not None and direction.syn_seq != seq:
                # A new connection on the same ports: close the old stream first. (The same
                # SYN again is a retransmission and changes nothing.)
                self._close(direction, number)
                direction = None
            if direction is None:
                direction = _Direction(src, dst, first, syn_seq=seq)
                self._directions[key] = direction
            seq = first
        elif direction is None:
            if not payload:
                return []
            # The capture started after the handshake: the stream starts here.
            direction = _Direction(src, dst, seq)
            self._directions[key] = direction
        if not payload:
            return []
        delta = (seq - direction.next_seq + _HALF) % _WRAP - _HALF
        offset = direction.next_offset + delta
        if offset + len(payload) <= direction.next_offset:
            self.retransmissions += 1
            return []
        messages: list[CapturedMessage] = []
        if offset > direction.next_offset:
            self._arrivals += 1
            heapq.heappush(direction.pending, (offset, self._arrivals, payload, number, time))
            direction.pending_bytes += len(payload)
            if (
                direction.pending_bytes > MAX_PENDING_BYTES
                or len(direction.pending) > MAX_PENDING_SEGMENTS
            ):
                self._skip_gap(direction, number, messages, number, time)
            return messages
        if offset < direction.next_offset:  # partly old: keep only the new bytes
            payload = payload[direction.next_offset - offset :]
        self._deliver(direction, payload, number, time, messages)
        self._drain(direction, number, time, messages)
        return messages

    def finish(self) -> list[CapturedMessage]:
        """End of capture: deliver data left behind gaps, report unfinished messages."""
        messages: list[CapturedMessage] = []
        for direction in self._directions.values():
            while direction.pending:
                self._skip_gap(direction, None, messages, 0, 0.0)
            self._report_leftover(direction, None)
        self._directions.clear()
        return messages

    # -- internals ----------------------------------------------------------------------------

    def _drain(self, direction: _Direction, number: int, time: float,
               messages: list[CapturedMessage]) -> None:
        """Deliver held-back segments that the stream has now reached.

        A message completed here is credited to the latest packet that contributed to it:
        ``number`` (the packet being processed), or a later held-back one at end of capture.
        """
        pending = direction.pending
        while pending and pending[0][0] <= direction.next_offset:
            offset, _, data, held_number, held_time = heapq.heappop(pending)
            if held_number > number:
                number, time = held_number, held_time
            direction.pending_bytes -= len(data)
            if offset + len(data) <= direction.next_offset:
                self.retransmissions += 1
                continue
            self._deliver(direction, data[direction.next_offset - offset :], number, time,
                          messages)

    def _skip_gap(self, direction: _Direction, at: int | None,
                  messages: list[CapturedMessage], number: int, time: float) -> None:
        """Give up on the missing bytes before the first held-back segment and go on."""
        first = direction.pending[0][0]
        missing = first - direction.next_offset
        where = f"packet {at}" if at is not None else "end of capture"
        self.problems.append(
            f"{where}: tcp {direction.src} -> {direction.dst}: {missing} bytes never captured "
            f"before packet {direction.pending[0][3]}; skipped the gap"
        )
        self._report_leftover(direction, at)
        direction.framer = None
        direction.hunt_tail = b""
        direction.at_line_start = True
        direction.next_seq = (direction.next_seq + missing) % _WRAP
        direction.next_offset = first
        self._drain(direction, number, time, messages)

    def _report_leftover(self, direction: _Direction, at: int | None) -> None:
        framer = direction.framer
        if framer is None:
            return
        left = framer.buffered
        if left.strip(b"\r\n"):
            where = f"packet {at}" if at is not None else "end of capture"
            self.problems.append(
                f"{where}: tcp {direction.src} -> {direction.dst}: incomplete SIP message "
                f"({len(left)} bytes) dropped"
            )

    def _close(self, direction: _Direction, number: int) -> None:
        """Forget a stream whose connection is being reopened, reporting what is lost."""
        if direction.pending:
            self.problems.append(
                f"packet {number}: tcp {direction.src} -> {direction.dst}: connection "
                f"reopened with {direction.pending_bytes} bytes still waiting for a gap; dropped"
            )
        self._report_leftover(direction, number)

    def _deliver(self, direction: _Direction, data: bytes, number: int, time: float,
                 messages: list[CapturedMessage]) -> None:
        """Append in-order ``data`` to the stream and frame what it completes."""
        direction.next_offset += len(data)
        direction.next_seq = (direction.next_seq + len(data)) % _WRAP
        while data:
            framer = direction.framer
            if framer is None:
                found = self._hunt(direction, data)
                if found is None:
                    if data.strip(b"\r\n") and direction.counted_non_sip != number:
                        direction.counted_non_sip = number
                        self.non_sip += 1
                    return
                framer = direction.framer = StreamFramer()
                data = found
            before = framer.buffered
            try:
                complete = framer.feed(data)
                data = b""
            except SipParseError as error:
                # The framer loses the messages it completed in this call before failing;
                # they are the bytes in front of the failed message, so frame them again.
                rest = framer.buffered
                combined = before + data
                complete = _frame_whole(combined[: len(combined) - len(rest)])
                self.problems.append(
                    f"packet {number}: tcp {direction.src} -> {direction.dst}: SIP framing "
                    f"lost ({error}); looking for the next start line"
                )
                direction.framer = None
                direction.hunt_tail = b""
                # The failed message's own start line is at rest[0]: look past it.
                direction.at_line_start = False
                data = rest
            for message in complete:
                if SIP_START_LINE.match(message) is None:
                    first_line = message.split(b"\n", 1)[0][:80]
                    self.problems.append(
                        f"packet {number}: tcp {direction.src} -> {direction.dst}: framed "
                        f"data is not SIP ({first_line!r}); dropped"
                    )
                    continue
                messages.append(CapturedMessage(number, time, direction.src, direction.dst,
                                                message))

    @staticmethod
    def _hunt(direction: _Direction, data: bytes) -> bytes | None:
        """The stream from the first start line at a line start, or None if there is none."""
        prefix = b"\n" if direction.at_line_start else b""
        text = prefix + direction.hunt_tail + data
        found = _START_AFTER_NEWLINE.search(text)
        if found is not None:
            direction.hunt_tail = b""
            return text[found.start() :]
        last_newline = text.rfind(b"\n")
        if last_newline < 0 or len(text) - last_newline - 1 > _MAX_HUNT_TAIL:
            direction.hunt_tail = b""
            direction.at_line_start = False
        else:
            direction.hunt_tail = text[last_newline + 1 :]
            direction.at_line_start = True
        return None


def _frame_whole(data: bytes) -> list[bytes]:
    """The messages in ``data``, known to be whole messages that a framer accepted once."""
    try:
        return StreamFramer().feed(data)
    except SipParseError:  # pragma: no cover - the same bytes framed cleanly before
        return []
