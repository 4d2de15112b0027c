"""The one exception that bad SIP input may raise, and the transaction layer's misuse error.

Every parser in ``fsync_model.sip`` (message, framing, headers, multipart) reports malformed
input by raising :class:`SipParseError` and nothing else: any other exception on input is a
bug (the fuzz tests check this contract). The error carries the status code that a user agent
should answer with (RFC 3261 section 21), so an agent can turn it straight into a response.
"""
from __future__ import annotations


class SipParseError(ValueError):
    """Malformed SIP input.

    ``reason`` is a short human phrase naming the problem, fit for a response's reason phrase
    (``"Bad Header: CSeq"``); ``status`` is the code to answer with (400, 413, 505, 513, ...);
    ``offset`` is the byte offset of the problem in the input when known; ``line`` is the
    offending line (decoded, truncated to 200 characters) when there is one.
    """

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        offset: int | None = None,
        line: str | None = None,
    ) -> None:
        self.reason = reason
        self.status = status
        self.offset = offset
        self.line = line[:200] if line is not None else None
        where = f" at byte {offset}" if offset is not None else ""
        shown = f": {self.line!r}" if self.line else ""
        super().__init__(f"{status} {reason}{where}{shown}")


class TransactionError(RuntimeError):
    """The TU asked for something the transaction's state forbids (a second final response).

    Raised by :mod:`fsync_model.sip.transaction` (which re-exports it) and the user agent. It
    lives here because mypyc cannot compile a class derived from ``RuntimeError``, and this
    module is left uncompiled (see setup.py).
    """
