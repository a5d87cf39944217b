"""An incremental ``text/event-stream`` decoder.

It works on bytes and only splits on ASCII line ends, so a chunk may end anywhere,
including inside a UTF-8 character: nothing is decoded until a line is complete. Lines
end in CR, LF or CRLF (the Gemini SDK's decoder accepts all three; a CRLF may be split
across two chunks). Event data stays bytes so that readers can test it cheaply before
deciding whether it is worth decoding as JSON.
"""

from __future__ import annotations

Event = tuple[str | None, bytes]   # (event name or None, data lines joined with "\n")

_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    __slots__ = ("_parts", "_event", "_data", "_after_cr", "_started")

    def __init__(self) -> None:
        # The pieces of an incomplete line (never holding CR or LF), joined once the line
        # ends: a long line arriving in many small chunks is not copied again for each.
        self._parts: list[bytes] = []
        self._event: str | None = None
        self._data: list[bytes] = []
        self._after_cr = False           # the last byte seen was a CR: a leading LF is its pair
        self._started = False

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        if not self._started:
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM):]
        if self._after_cr:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        tail = lines.pop()
        parts = self._parts
        if not lines:
            if tail:
                parts.append(tail)
            return []
        if parts:
            parts.append(lines[0])
            lines[0] = b"".join(parts)
            parts.clear()
        if tail:
            parts.append(tail)
        return self._lines(lines)

    def close(self) -> list[Event]:
        """End of input: a last line without its terminator and an event without its blank line.

        The spec drops an unterminated event; a cut stream is exactly what we must meter, so
        it is handed on (its JSON may be truncated, and readers skip what they cannot decode).
        """
        lines = [b"".join(self._parts), b""] if self._parts else [b""]
        self._parts.clear()
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[Event]:
        events: list[Event] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append((self._event, b"\n".join(data)))
                    data = []
                self._event = None
            elif line.startswith(b"data:"):   # by far the most common line: first
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[:1] == b":":             # comment / keep-alive
                continue
            else:
                colon = line.find(b":")
                field, value = (line, b"") if colon < 0 else (line[:colon], line[colon + 1:])
                if field == b"event":
                    self._event = (value[1:] if value[:1] == b" " else value).decode("utf-8", "replace")
                elif field == b"data":        # "data" with no colon: an empty data line
                    data.append(b"")
                # "id" and "retry" do not matter for metering.
        self._data = data
        return events
