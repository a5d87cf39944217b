"""spendtag: what every LLM call cost, and whom to bill for it.

The public Python API. ``spendtag.record(...)`` prices one call and writes it to the
ledger (the same ledger the CLI uses: ``SPENDTAG_DB``, the config file, or the default).
"""

from __future__ import annotations

import atexit
import importlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from spendtag.capture.sdk import BudgetExceeded, FileSink, HttpSink, LedgerSink, instrument, tagged, tags
    from spendtag.errors import SpendtagError
    from spendtag.recording import Recorder
    from spendtag.usage import Cost, PricedEvent, PriceRef, Usage, UsageEvent

# The public names load on first use: the CLI and the status line import this package and
# must start fast, and most of them never touch the SDK wrappers.
_LAZY = {
    "BudgetExceeded": "spendtag.capture.sdk",
    "Cost": "spendtag.usage",
    "FileSink": "spendtag.capture.sdk",
    "HttpSink": "spendtag.capture.sdk",
    "LedgerSink": "spendtag.capture.sdk",
    "PriceRef": "spendtag.usage",
    "PricedEvent": "spendtag.usage",
    "SpendtagError": "spendtag.errors",
    "Usage": "spendtag.usage",
    "UsageEvent": "spendtag.usage",
    "instrument": "spendtag.capture.sdk",
    "tagged": "spendtag.capture.sdk",
    "tags": "spendtag.capture.sdk",
}

# `tags` on the package is the context manager, not the module spendtag.tags (which is always
# imported by its full name). Loading a submodule binds its name on the package, so the module
# is loaded now and that binding dropped: `spendtag.tags` then reaches __getattr__ whatever is
# imported later.
importlib.import_module("spendtag.tags")
del globals()["tags"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    # importlib.metadata costs ~50 ms of start-up: read the version only when asked.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("spendtag")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0"
    raise AttributeError(f"module 'spendtag' has no attribute {name!r}")


__all__ = [
    "BudgetExceeded",
    "Cost",
    "FileSink",
    "HttpSink",
    "LedgerSink",
    "PriceRef",
    "PricedEvent",
    "SpendtagError",
    "Usage",
    "UsageEvent",
    "__version__",
    "instrument",
    "record",
    "tagged",
    "tags",
]

_recorders: dict[str, Recorder] = {}
_lock = threading.Lock()


def _recorder(db: str | None) -> Recorder:
    from spendtag import settings
    from spendtag.ledger import open_store
    from spendtag.pricing import Pricer
    from spendtag.recording import Recorder, price_book  # noqa: F811  (imported lazily: CLI start-up)

    resolved = settings.load({"db": db})
    with _lock:
        found = _recorders.get(resolved.db)
        if found is None:
            store = open_store(resolved.db)
            found = Recorder(store, Pricer(price_book(store, resolved)))
            _recorders[resolved.db] = found
        return found


@atexit.register
def _close() -> None:
    with _lock:
        for recorder in _recorders.values():
            recorder.store.close()
        _recorders.clear()


def record(
    provider: str,
    model: str | None,
    usage: Mapping[str, Any] | Usage,
    *,
    tags: Mapping[str, str] | None = None,
    project: str | None = None,
    session: str | None = None,
    agent: str | None = None,
    user: str | None = None,
    key: str | None = None,
    event_id: str | None = None,
    ts: datetime | None = None,
    db: str | None = None,
) -> PricedEvent:
    """Record one call from the provider's own usage object (or whole response body).

    ``event_id`` is the idempotency key: recording the same id again changes nothing and
    returns the call as priced now. Without one, the response's own id is used when
    ``usage`` is a whole response that has one, else a new unique id. Returns the priced
    event; ``result.cost.total`` is in pico-USD (see :mod:`spendtag.money`).
    """
    from spendtag.recording import build_event

    event = build_event(provider, model, usage, tags=tags, project=project, session=session, agent=agent,
                        user=user, key=key, event_id=event_id, ts=ts, source="python")
    priced, _ = _recorder(db).record_one(event)
    return priced
