"""Cut a SIP byte stream (TCP, TLS, or a reassembled capture) into whole messages.

On a stream transport a message ends where its ``Content-Length`` says (RFC 3261 section
18.3), so the framer reads just enough of the header block to find that header and never
parses anything else: checking the message is the parser's job (``fsync_model.sip.message``).
Sans-IO: feed it bytes in any chunking, get whole messages back; it never touches a socket.
"""
from __future__ import annotations

import re

from fsync_model.sip.errors import SipParseError

#: Default limit on the header block (start line + headers + blank line) in bytes.
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
#: Default limit on a body in bytes.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# The blank line ending the header block. RFC 3261 section 7 says CRLF; bare LF is tolerated
# because real phones send it and a framer that stalls on it hangs the connection.
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# A header line: name, optional whitespace, colon (HCOLON, RFC 3261 section 25.1).
_HEADER_LINE = re.compile(rb"([!-9;-~]+)[ \t]*:(.*)", re.DOTALL)
_LINE_BREAK = re.compile(rb"\r?\n")
_DIGITS = re.compile(rb"[0-9]+")
# Content-Length values longer than this cannot be honest (and Python's int() refuses
# strings past 4300 digits with a plain ValueError, which we must never let out).
_MAX_LENGTH_DIGITS = 18
# The long form and the compact form (RFC 3261 section 7.3.3), compared lower-cased.
_CONTENT_LENGTH_NAMES = (b"content-length", b"l")
_KEEPALIVE_BYTES = b"\r\n"
_PING = b"\r\n\r\n"


class StreamFramer:
    """Splits a SIP stream into messages: headers plus exactly ``Content-Length`` body bytes.

    CR and LF bytes between messages are skipped (RFC 3261 section 7.5: ignore CRLF before a
    start line), which covers RFC 5626 keep-alives: each double-CRLF ping is counted in
    :attr:`pings` so a transport can answer it with a single-CRLF pong.

    Framing errors raise :class:`SipParseError` with ``offset`` counted from the start of
    the stream: 400 for a missing or bad ``Content-Length``, 513 when the header block
    exceeds ``max_header_bytes``, 413 when the body exceeds ``max_body_bytes``. After an error
    the stream has lost its place: every later :meth:`feed` raises the same error until
    :meth:`reset`.
    """

    def __init__(
        self,
        *,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.reset()

    def reset(self) -> None:
        """Forget everything: buffered bytes, the error, the counters."""
        self._buffer = bytearray()
        # Stream offset of _buffer[0], for error offsets.
        self._base = 0
        # Where to resume the search for the end of the header block.
        self._scan_from = 0
        # Once the header block is found: its length and the body length.
        self._head_length: int | None = None
        self._body_length = 0
        # The keep-alive bytes skipped since the last message (to spot a full CRLFCRLF ping).
        self._gap = b""
        self._error: SipParseError | None = None
        #: Number of RFC 5626 double-CRLF pings seen between messages.
        self.pings = 0

    @property
    def buffered(self) -> bytes:
        """The bytes of a message begun but not yet complete (empty at a message boundary)."""
        return bytes(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data`` from the stream; return every message it completes, in order.

        Raises :class:`SipParseError` on a framing error; messages that ``data`` completed
        before the error are then lost to the caller (use :meth:`feed_until_error` to keep
        them). After the error, :attr:`buffered` starts at the message that failed.
        """
        messages, error = self.feed_until_error(data)
        if error is not None:
            raise error
        return messages

    def feed_until_error(self, data: bytes) -> tuple[list[bytes], SipParseError | None]:
        """Like :meth:`feed`, but returns the error instead of raising it, together with the
        messages completed before it: ``(messages, None)`` or ``(messages, error)``."""
        if self._error is not None:
            return [], self._error
        self._buffer += data
        messages: list[bytes] = []
        try:
            while True:
                message = self._next_message()
                if message is None:
                    return messages, None
                messages.append(message)
        except SipParseError as error:
            self._error = error
            return messages, error

    def _next_message(self) -> bytes | None:
        if self._head_length is None:
            self._skip_keepalives()
            if not self._buffer:
                return None
            found = _HEADER_END.search(self._buffer, self._scan_from)
            if found is None:
                if len(self._buffer) > self.max_header_bytes:
                    raise SipParseError(
                        "Message Too Large: header block over "
                        f"{self.max_header_bytes} bytes", 513, offset=self._base,
                    )
                # The next search can start just before the end: a terminator may straddle.
                self._scan_from = max(0, len(self._buffer) - 3)
                return None
            head_length = found.end()
            if head_length > self.max_header_bytes:
                raise SipParseError(
                    f"Message Too Large: header block over {self.max_header_bytes} bytes",
                    513, offset=self._base,
                )
            self._body_length = self._content_length(bytes(self._buffer[: found.start()]))
            self._head_length = head_length
        total = self._head_length + self._body_length
        if len(self._buffer) < total:
            return None
        message = bytes(self._buffer[:total])
        del self._buffer[:total]
        self._base += total
        self._head_length = None
        self._scan_from = 0
        return message

    def _skip_keepalives(self) -> None:
        skip = 0
        while skip < len(self._buffer) and self._buffer[skip] in _KEEPALIVE_BYTES:
            skip += 1
        if skip:
            # Count pings over the whole gap, which may arrive split across feeds.
            gap = self._gap + bytes(self._buffer[:skip])
            start = 0
            while (found := gap.find(_PING, start)) >= 0:
                self.pings += 1
                start = found + len(_PING)
            self._gap = gap[start:][-3:]
            del self._buffer[:skip]
            self._base += skip
        if self._buffer:
            # A message starts here: CRLFs after it belong to a new gap.
            self._gap = b""

    def _content_length(self, head: bytes) -> int:
        """The body length declared in ``head`` (the header block without its blank line)."""
        # Each line with its offset in the stream, for error reports.
        lines: list[tuple[bytes, int]] = []
        start = 0
        for line_break in _LINE_BREAK.finditer(head):
            lines.append((head[start : line_break.start()], self._base + start))
            start = line_break.end()
        lines.append((head[start:], self._base + start))
        # Unfold: a line starting with whitespace continues the previous header
        # (RFC 3261 section 7.3.1). The start line (lines[0]) is never a header.
        headers: list[tuple[bytes, int]] = []
        for line, at in lines[1:]:
            if line[:1] in (b" ", b"\t") and headers:
                text, first = headers[-1]
                headers[-1] = (text + b" " + line.strip(b" \t"), first)
            else:
                headers.append((line, at))
        found: int | None = None
        for text, at in headers:
            match = _HEADER_LINE.fullmatch(text)
            if match is None or match.group(1).lower() not in _CONTENT_LENGTH_NAMES:
                continue
            value = match.group(2).strip(b" \t")
            shown = text.decode("utf-8", "replace")
            if not _DIGITS.fullmatch(value):
                raise SipParseError("Bad Content-Length", 400, offset=at, line=shown)
            digits = value.lstrip(b"0") or b"0"
            if len(digits) > _MAX_LENGTH_DIGITS:
                raise SipParseError(
                    f"Request Entity Too Large: body over {self.max_body_bytes} bytes",
                    413, offset=at, line=shown,
                )
            length = int(digits)
            if found is not None and length != found:
                raise SipParseError(
                    "Bad Content-Length: conflicting values", 400, offset=at, line=shown
                )
            found = length
        if found is None:
            raise SipParseError(
                "Missing Content-Length on stream transport", 400, offset=self._base,
                line=lines[0][0].decode("utf-8", "replace"),
            )
        if found > self.max_body_bytes:
            raise SipParseError(
                f"Request Entity Too Large: body over {self.max_body_bytes} bytes",
                413, offset=self._base,
            )
        return found
