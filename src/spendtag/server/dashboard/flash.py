"""A message for the page after a change (post, redirect, get), kept on the server, never in a cookie.

The cookie holds only a random id; the message (which may hold a new key's secret, shown
once) stays in this process and is taken, so it shows once. Kept for a few minutes at most.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

COOKIE = "spendtag_flash"
KEEP_SECONDS = 300
LIMIT = 1000


@dataclass(frozen=True)
class Flash:
    message: str
    kind: str = "ok"                 # ok | warn
    secret: str | None = None        # shown once, in its own box (a new key or link)
    secret_label: str = ""


class Flashes:
    def __init__(self) -> None:
        self._held: dict[str, tuple[float, Flash]] = {}
        self._lock = threading.Lock()

    def put(self, response: Response, flash: Flash, request: Request) -> None:
        now = time.monotonic()
        fid = secrets.token_urlsafe(18)
        with self._lock:
            for old in [k for k, (at, _) in self._held.items() if now - at > KEEP_SECONDS]:
                del self._held[old]
            if len(self._held) >= LIMIT:
                self._held.pop(next(iter(self._held)))
            self._held[fid] = (now, flash)
        response.set_cookie(COOKIE, fid, httponly=True, samesite="strict", path="/", max_age=KEEP_SECONDS,
                            secure=request.url.scheme == "https")

    def take(self, request: Request) -> Flash | None:
        fid = request.cookies.get(COOKIE)
        if not fid:
            return None
        with self._lock:
            found = self._held.pop(fid, None)
        if found is None or time.monotonic() - found[0] > KEEP_SECONDS:
            return None
        return found[1]
