"""``spendtag.instrument(client)``: every call an SDK client makes is recorded with its usage and tags.

Supported clients: ``openai.OpenAI``/``AsyncOpenAI``/``AzureOpenAI``/``AsyncAzureOpenAI``
(and any OpenAI-compatible ``base_url``: the provider is named from the host, see
``COMPAT_HOSTS``), ``anthropic.Anthropic``/``AsyncAnthropic`` and ``google.genai.Client``
(its ``.aio`` side too). Capture is at the SDK's httpx transport, so every endpoint is
covered; not covered: google-genai on Vertex AI with google-auth's async credentials
(that path sends through google-auth's own aiohttp session) and SDK calls made over
websockets (the OpenAI Realtime API).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from spendtag.capture.sdk.context import split
from spendtag.capture.sdk.enforce import Enforcer
from spendtag.capture.sdk.meter import Meter, provider_for_host
from spendtag.capture.sdk.sinks import LedgerSink, Sink, default_sink
from spendtag.capture.sdk.transport import wrap_client
from spendtag.errors import SpendtagError
from spendtag.usage import UsageEvent

C = TypeVar("C")


def instrument(client: C, *, enforce: bool = False, sink: Sink | None = None, tags: Mapping[str, str] | None = None,
               provider: str | None = None, on_event: Callable[[UsageEvent], None] | None = None) -> C:
    """Meter ``client`` in place and return it.

    ``tags`` (and ``session``/``agent``/``project``/``user`` among them) apply to every call
    the client makes, under the tags of ``spendtag.tags(...)`` blocks and a call's own
    ``X-Spendtag-Tags`` header. ``enforce=True`` raises :class:`BudgetExceeded` before a call
    that a blocking budget's stop threshold forbids. ``sink`` defaults to the local ledger.
    ``provider`` overrides the provider id for an unusual OpenAI-compatible endpoint.
    """
    sink = sink if sink is not None else default_sink()
    enforcer = Enforcer(sink, db=sink.db if isinstance(sink, LedgerSink) else None) if enforce else None
    context = split(dict(tags or {}))
    family, http_clients = _http_clients(client)
    name = provider or family
    if provider is None and family == "openai":
        name = _openai_provider(client)
    meter = Meter(name, sink, context=context, enforcer=enforcer, on_event=on_event)
    for http_client in http_clients:
        wrap_client(http_client, meter)
    return client


def _http_clients(client: Any) -> tuple[str, list[Any]]:
    module = type(client).__module__.split(".")[0]
    if module == "openai":
        return "openai", [client._client]
    if module == "anthropic":
        return "anthropic", [client._client]
    if module == "google":
        api = getattr(client, "_api_client", None)
        if api is None:
            raise SpendtagError("instrument: this google client has no _api_client; pass a google.genai.Client")
        found = [c for c in (api._httpx_client, api._async_httpx_client) if c is not None]
        if api._async_httpx_client is not None and api._http_options.httpx_async_client is None:
            # With aiohttp installed, genai's async side would bypass httpx: hand it the
            # (metered) httpx client explicitly, which is what genai does for a custom one.
            api._http_options.httpx_async_client = api._async_httpx_client
        return "google", found
    raise SpendtagError(f"instrument: unsupported client {type(client).__module__}.{type(client).__name__}; "
                        "expected an openai, anthropic or google.genai client")


def _openai_provider(client: Any) -> str:
    if "Azure" in type(client).__name__:
        return "azure"
    base = getattr(client, "base_url", None)
    host = getattr(base, "host", "") or ""
    return provider_for_host(host, "openai")
