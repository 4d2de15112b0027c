"""Taps: observers that see every SIP message a transport sends or receives.

A tap is what the pcap writer (``fsync_model.transport.pcap``) implements, and what tests use
to watch the wire. Socket transports call their taps for each message sent and each message
received, with wall-clock time; the in-memory network calls its taps once per copy it
delivers, with virtual time. Keep-alive CRLFs are not messages and are not tapped.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fsync_model.transport.address import Address

logger = logging.getLogger(__name__)


@runtime_checkable
class Tap(Protocol):
    """Something that records messages on the wire."""

    def record(self, now: float, src: Address, dst: Address, data: bytes) -> None:
        """Called once per message: ``now`` in seconds, ``data`` exactly one SIP message."""
        ...


@dataclass(frozen=True)
class TapRecord:
    """One message as a :class:`ListTap` saw it."""

    time: float
    src: Address
    dst: Address
    data: bytes


class ListTap:
    """A tap that keeps what it sees in :attr:`records`, for tests and small tools."""

    def __init__(self) -> None:
        self.records: list[TapRecord] = []

    def record(self, now: float, src: Address, dst: Address, data: bytes) -> None:
        self.records.append(TapRecord(now, src, dst, data))


def notify_taps(taps: Iterable[Tap], now: float, src: Address, dst: Address,
                data: bytes) -> None:
    """Call every tap; a tap that raises is logged and does not stop traffic or other taps.

    Used by the socket transports, whose callers are asyncio callbacks with nobody to hand
    an exception to. (The in-memory network lets tap exceptions propagate: it runs inside a
    test, where a loud failure is what we want.)
    """
    for tap in taps:
        try:
            tap.record(now, src, dst, data)
        except Exception:
            logger.exception("tap %r failed recording %s -> %s", tap, src, dst)
