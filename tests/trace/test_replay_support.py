"""Captures the project writes itself, for the replay and ``fsync check`` tests: a flow run
between the reference agents (``run_flow``), written through ``PcapWriter``, optionally with
its bytes edited to inject one defect. Packet ``n`` of such a capture is message ``n - 1``
of the run (set-up included): one UDP datagram per message."""
from __future__ import annotations

import dataclasses
import functools
import io
import re
from collections.abc import Callable, Sequence

from fsync_model.profile import Profile, load_all
from fsync_model.sip.useragent import MessageRecord
from fsync_model.testing.flows import FlowSpec, flows_of, run_flow
from fsync_model.trace.capture import read_capture
from fsync_model.trace.records import CapturedMessage, CaptureSummary
from fsync_model.transport.address import Address
from fsync_model.transport.pcap import PcapWriter

#: wall-clock origin of the written captures (any fixed value: runs are deterministic)
EPOCH = 1_700_000_000.0

Edit = Callable[[bytes], bytes]


@functools.cache
def profiles() -> dict[str, Profile]:
    return load_all()


def spec_of(vendor: str, flow: str, profile: Profile | None = None) -> FlowSpec:
    profile = profile or profiles()[vendor]
    for spec in flows_of(profile):
        if spec.name == flow:
            return spec
    raise KeyError(flow)


@functools.cache
def records_of(vendor: str, flow: str, seed: int = 1) -> tuple[MessageRecord, ...]:
    """Every message of one run of ``flow`` (set-up first), as the phone saw them."""
    run = run_flow(spec_of(vendor, flow), seed=seed)
    assert run.passed, run.failures
    return tuple([*run.setup_messages, *run.messages])


def pcap_bytes(records: Sequence[MessageRecord], *, extra: Sequence[
        tuple[float, Address, Address, bytes]] = ()) -> bytes:
    """A classic pcap of ``records`` (plus raw ``extra`` datagrams, merged by time)."""
    items = [(r.time, r.src, r.dst, r.data) for r in records]
    items.extend(extra)
    items.sort(key=lambda item: item[0])
    buffer = io.BytesIO()
    writer = PcapWriter(buffer, epoch=EPOCH)
    for time, src, dst, data in items:
        writer.record(time, src, dst, data)
    writer.close()
    return buffer.getvalue()


def read(data: bytes) -> tuple[list[CapturedMessage], CaptureSummary]:
    return read_capture(data)


def find(records: Sequence[MessageRecord], pattern: bytes, nth: int = 0) -> int:
    """Index of the ``nth`` message matching the regular expression ``pattern``."""
    hits = [i for i, r in enumerate(records) if re.search(pattern, r.data, re.S)]
    assert len(hits) > nth, f"no message #{nth} matches {pattern!r}"
    return hits[nth]


def with_length(data: bytes) -> bytes:
    """``data`` with Content-Length set to its body's real length."""
    head, sep, body = data.partition(b"\r\n\r\n")
    head = re.sub(rb"(?im)^Content-Length:[^\r\n]*", b"Content-Length: %d" % len(body), head)
    return head + sep + body


def edited(records: Sequence[MessageRecord], index: int, edit: Edit) -> list[MessageRecord]:
    """``records`` with message ``index`` edited (Content-Length kept right)."""
    out = list(records)
    out[index] = dataclasses.replace(out[index], data=with_length(edit(out[index].data)))
    return out


def sub(pattern: bytes, replacement: bytes, count: int = 0) -> Edit:
    def edit(data: bytes) -> bytes:
        new, done = re.subn(pattern, replacement, data, count=count, flags=re.S)
        assert done, f"{pattern!r} not in the message"
        return new
    return edit


def drop_header(name: bytes) -> Edit:
    return sub(rb"\r\n" + name + rb":[^\r\n]*", b"")
