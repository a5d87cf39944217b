"""Cross-site request forgery: every form that changes the ledger carries a token only this server's pages know.

Each browser gets a random session value in a cookie (HttpOnly, SameSite=Strict); a form's
hidden ``csrf`` field is an HMAC of it under a key made when the server starts. A POST is
accepted only when the field matches the cookie it came with, so a page elsewhere, which can
read neither, cannot make one; :mod:`spendtag.server.sites` refuses foreign origins before.
A restart changes the key: a form left open is then refused, and reloading it fixes that.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup

COOKIE = "spendtag_csrf"
FIELD = "csrf"
_SESSION_RE = re.compile(r"[A-Za-z0-9_-]{32,64}\Z")


class Csrf:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def token(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()

    def valid(self, session: str | None, token: str | None) -> bool:
        if not session or not token or not _SESSION_RE.match(session):
            return False
        return hmac.compare_digest(token.encode(), self.token(session).encode())

    async def middleware(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Give a browser its session value on first sight; every page can then put the token in its forms."""
        found = request.cookies.get(COOKIE)
        new = found is None or not _SESSION_RE.match(found)
        session = secrets.token_urlsafe(32) if new or found is None else found
        request.state.csrf_session = session
        response = await call_next(request)
        if new and response.headers.get("content-type", "").startswith("text/html"):
            response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/",
                                secure=request.url.scheme == "https")
        return response


def field(request: Request) -> Markup:
    """The hidden input a form that changes something must carry."""
    csrf: Csrf = request.app.state.csrf
    session = getattr(request.state, "csrf_session", None) or ""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf.token(session) if session else "")


def check(request: Request, token: str | None) -> bool:
    csrf: Csrf = request.app.state.csrf
    return csrf.valid(request.cookies.get(COOKIE), token)
