"""A request body, read with its size bounded on the wire and while it is decompressed.

Decompressing first and measuring after lets a 500 KiB gzip body of zeros become a GiB in
memory before it is refused. Here each chunk is inflated as it arrives, never to more than
what is left of the limit, so a body is refused the moment it would pass the limit and the
server's memory stays within one limit's worth per request.
"""

from __future__ import annotations

import zlib

from spendtag.server.asgi import Receive

MAX_BODY = 32 * 1024 * 1024
STEP = 1024 * 1024      # output per decompression step: zlib builds each step's bytes twice over
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyError(Exception):
    """A body that cannot be read: ``status`` 400, 413 or 415, and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Inflater:
    """Decompresses a gzip (several members allowed, as ``gzip.decompress`` reads) or deflate body
    chunk by chunk, refusing it as soon as its output would pass ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        wbits = _WBITS.get(encoding)
        if wbits is None:
            raise BodyError(415, f"unsupported content-encoding {encoding!r}; use gzip, deflate or none")
        self.encoding = encoding
        self.wbits = wbits
        self.limit = limit
        self.room = limit
        self.fed = False
        self._d: zlib._Decompress | None = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        try:
            while data:
                self.fed = True
                if self._d is None:      # the last member ended: only another gzip member may follow
                    if self.wbits != _WBITS["gzip"]:
                        raise BodyError(400, "bytes after the end of the compressed body")
                    self._d = zlib.decompressobj(self.wbits)
                piece = self._d.decompress(data, min(self.room + 1, STEP))
                self.room -= len(piece)
                if self.room < 0:
                    raise BodyError(413, f"body too large once decompressed (limit {self.limit} bytes)")
                out.append(piece)
                if self._d.eof:
                    data, self._d = self._d.unused_data, None
                else:
                    data = self._d.unconsumed_tail    # what is left once a step's output is full
        except zlib.error as exc:
            raise BodyError(400, f"cannot decompress the {self.encoding} body: {exc}") from None
        return b"".join(out)

    def finish(self) -> None:
        if self.fed and self._d is not None:
            raise BodyError(400, f"the {self.encoding} body is cut short")


async def read(receive: Receive, encoding: str, limit: int = MAX_BODY) -> bytes:
    """The whole body, decompressed per ``Content-Encoding``; :class:`BodyError` past ``limit`` either way."""
    encoding = encoding.strip().lower()
    inflater = None if encoding in ("", "identity") else Inflater(encoding, limit)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyError(400, "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body too large (limit {limit} bytes)")
        parts.append(chunk if inflater is None else inflater.feed(chunk))
        if not message.get("more_body"):
            break
    if inflater is not None:
        inflater.finish()
    return b"".join(parts)
