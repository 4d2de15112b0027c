"""Identifiers a user agent makes up: Call-IDs, tags, branches, cnonces.

All drawn from a :class:`random.Random` handed in by the caller, so a seeded run produces the
same messages byte for byte (the core never touches ``os.urandom`` or the clock).
"""
from __future__ import annotations

import random

from fsync_model.sip.fields import MAGIC_COOKIE


class IdGenerator:
    """Random tokens for one user agent, from a seeded :class:`random.Random`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def token(self, length: int) -> str:
        """``length`` lower-case hex digits (4 random bits each: token characters everywhere
        SIP wants one), from one draw of the generator, not one per character."""
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    def call_id(self, host: str | None = None) -> str:
        """A globally unique Call-ID (RFC 3261 section 8.1.1.4), ``random@host`` when given."""
        value = self.token(20)
        return f"{value}@{host}" if host else value

    def tag(self) -> str:
        """A From/To tag with at least 32 bits of randomness (section 19.3)."""
        return self.token(10)

    def branch(self) -> str:
        """A branch with the RFC 3261 magic cookie (section 8.1.1.7)."""
        return MAGIC_COOKIE + self.token(16)

    def cnonce(self) -> str:
        """A client nonce for digest authentication."""
        return self.token(16)
