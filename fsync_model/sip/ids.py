"""Identifiers a user agent makes up: Call-IDs, tags, branches, cnonces.

All drawn from a :class:`random.Random` handed in by the caller, so a seeded run produces the
same messages byte for byte (the core never touches ``os.urandom`` or the clock).
"""
from __future__ import annotations

import base64
import random

from fsync_model.sip.fields import MAGIC_COOKIE


class IdGenerator:
    """Random tokens for one user agent, from a seeded :class:`random.Random`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def token(self, length: int) -> str:
        """``length`` characters of ``a-z2-7`` (5 random bits each, RFC 4648 base32 in
        lower case: token characters everywhere SIP wants one). One draw from the
        generator, not one per character."""
        raw = self.rng.randbytes((5 * length + 7) // 8)
        return base64.b32encode(raw)[:length].decode("ascii").lower()

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
