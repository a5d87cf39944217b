"""In-process capture (layer L2): instrument SDK clients, tag calls by context, send events to a sink.

``instrument(client)`` meters an openai, anthropic or google-genai client at its httpx
transport; ``tags(...)``/``tagged(...)`` attach tags through contextvars; ``LedgerSink``
(default), ``FileSink`` and ``HttpSink`` batch the events off the caller's thread.
``tags``, ``tagged`` and ``BudgetExceeded`` are cheap to import; the rest loads on first
use, so that ``import spendtag`` stays fast for the status line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spendtag.capture.sdk.context import tagged, tags
from spendtag.capture.sdk.errors import BudgetExceeded

if TYPE_CHECKING:
    from spendtag.capture.sdk.instrument import instrument
    from spendtag.capture.sdk.sinks import FileSink, HttpSink, LedgerSink, Sink, default_sink

_LAZY = {"instrument": "instrument", "FileSink": "sinks", "HttpSink": "sinks", "LedgerSink": "sinks",
         "Sink": "sinks", "default_sink": "sinks"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spendtag.capture.sdk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"spendtag.capture.sdk.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["BudgetExceeded", "FileSink", "HttpSink", "LedgerSink", "Sink", "default_sink", "instrument", "tagged",
           "tags"]
