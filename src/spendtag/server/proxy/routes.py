"""Which upstream a request goes to, and what the proxy needs to know about its body.

Routing is by the first path segment: ``/openai/v1/...`` (the default OpenAI-compatible
upstream), ``/NAME/v1/...`` for a named OpenAI-compatible upstream from the config,
``/anthropic/v1/...`` and ``/gemini/...``. For OpenAI-style upstreams the ``/v1`` is
dropped because their base URL carries the version (``https://api.openai.com/v1``); the
others keep the whole rest of the path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spendtag.capture._fields import loads
from spendtag.server.proxy.config import Upstream


@dataclass(frozen=True, slots=True)
class Target:
    upstream: Upstream
    url: str                  # without the query string
    api: str | None           # chat, responses, embeddings, messages, gemini; None: passed through unmetered
    model: str | None         # from the path (Gemini), else from the body
    stream: bool              # known from the path (Gemini streamGenerateContent)


def resolve(upstreams: Mapping[str, Upstream], method: str, path: str) -> Target | None:
    slash = path.find("/", 1)
    name = path[1:slash] if slash > 0 else path[1:]
    up = upstreams.get(name)
    if up is None:
        return None
    rest = path[slash:] if slash > 0 else ""
    kind = up.kind
    api: str | None = None
    model: str | None = None
    stream = False
    if kind == "openai":
        if rest.startswith("/v1/") or rest == "/v1":
            rest = rest[3:]
        if method == "POST":
            if rest.endswith("/chat/completions") or rest.endswith("/completions"):
                api = "chat"
            elif rest.endswith("/responses"):
                api = "responses"
            elif rest.endswith("/embeddings"):
                api = "embeddings"
    elif kind == "anthropic":
        if method == "POST" and rest.endswith("/messages"):
            api = "messages"
    elif method == "POST":
        colon = rest.rfind(":")
        action = rest[colon + 1:] if colon > 0 else ""
        if action in ("generateContent", "streamGenerateContent"):
            api = "gemini"
            stream = action == "streamGenerateContent"
            segment = rest[:colon].rsplit("/", 1)[-1]
            model = segment or None
    return Target(up, up.base_url + rest, api, model, stream)


@dataclass(slots=True)
class Body:
    model: str | None
    stream: bool
    max_output: int | None
    input_tokens: int         # estimate: about four bytes of request per token
    data: bytes               # what to send upstream
    strip_usage: bool         # the proxy asked for include_usage; strip the usage chunk for the client


def inspect(target: Target, data: bytes) -> Body:
    obj: Any = None
    if data[:1] == b"{" or data.lstrip()[:1] == b"{":
        try:
            obj = loads(data)
        except (ValueError, RecursionError):    # not JSON, or nested past the decoder's guard: sent as is
            obj = None
    estimate = len(data) // 4
    if not isinstance(obj, dict):
        return Body(target.model, target.stream, None, estimate, data, False)
    model = obj.get("model")
    model = model if isinstance(model, str) and model else target.model
    stream = target.stream or obj.get("stream") is True
    out = obj.get("max_tokens") or obj.get("max_completion_tokens") or obj.get("max_output_tokens")
    if out is None:
        config = obj.get("generationConfig")
        if isinstance(config, dict):
            out = config.get("maxOutputTokens")
    max_output = out if isinstance(out, int) and out > 0 else None
    strip = False
    if stream and target.api == "chat":
        opts = obj.get("stream_options")
        if not (isinstance(opts, dict) and opts.get("include_usage")):
            obj["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
            data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
            strip = True
    return Body(model, stream, max_output, estimate, data, strip)
