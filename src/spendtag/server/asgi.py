"""What the servers' raw ASGI apps share: the types, and the lifespan protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# What reading a malformed request can raise anywhere below a server (a wrong type where a
# reader expected another, a number out of range, nesting past the decoders' recursion guard):
# a server answers these with 400 when they escape its own checks, never with a 500.
INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError, AttributeError,
                                             ArithmeticError, RecursionError)


class Lifecycle(Protocol):
    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


async def lifespan(app: Lifecycle, receive: Receive, send: Send) -> None:
    """Answer ASGI lifespan messages with ``app.startup()`` and ``app.shutdown()``."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await app.startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await app.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
