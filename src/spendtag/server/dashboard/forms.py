"""What every dashboard action shares: who may act, reading the posted form, the CSRF check,
the audit row, and the redirect with its message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from spendtag.ledger.audit_tables import AuditEntry
from spendtag.ledger.store import Store
from spendtag.server.dashboard import csrf
from spendtag.server.dashboard.access import Viewer
from spendtag.server.dashboard.flash import Flash, Flashes
from spendtag.server.dashboard.pages import PageError, page_viewer, render

MAX_FORM_BYTES = 64 * 1024


@dataclass
class FormData:
    """A posted form: each field's values, as sent."""

    fields: Mapping[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]

    def flag(self, name: str) -> bool:
        return self.get(name) in ("on", "1", "true", "yes")

    def values(self) -> dict[str, str]:
        """Every field's first value (to fill a form in again after an error)."""
        return {k: v[0] for k, v in self.fields.items() if v and k != csrf.FIELD}


def admin(request: Request) -> Viewer:
    """The admin (or an open loopback dashboard): only they change things."""
    who = page_viewer(request)
    if who.role != "admin":
        raise PageError(403, "Not allowed", "Only the admin token can change things; this token is read-only.")
    return who


Admin = Annotated[Viewer, Depends(admin)]


class Refused(Exception):
    """A post that failed its CSRF check: answered 403, never acted on."""


async def posted(request: Request) -> FormData:
    """The form, once its CSRF token matches this browser's cookie (else :class:`Refused`)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "Too large", "This form is too large.")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=200)
    form = FormData(fields)
    if not csrf.check(request, form.get(csrf.FIELD) or None):
        raise Refused
    return form


def refused(request: Request) -> Response:
    return render(request, "error.html", status=403, title="Form not accepted",
                  message="This form could not be checked: it came from another page, or it was opened before "
                          "the dashboard restarted. Reload the page and try again.")


def record(store: Store, who: Viewer, action: str, target: str, details: Mapping[str, Any] | None = None) -> None:
    store.add_audit(AuditEntry(who.name, action, target, dict(details or {})))


def done(request: Request, to: str, message: str, *, kind: str = "ok", secret: str | None = None,
         secret_label: str = "") -> RedirectResponse:
    """Back to a page (303), which shows ``message`` once."""
    response = RedirectResponse(to, status_code=303)
    flashes: Flashes = request.app.state.flashes
    flashes.put(response, Flash(message, kind, secret, secret_label), request)
    return response
