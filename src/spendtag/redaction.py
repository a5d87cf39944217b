"""Credentials taken out of text that came from elsewhere (an upstream's error body, a
webhook's answer) before it is stored or shown: a provider may quote the key it refused.

Over-redacting is safe, leaking is not: anything that looks like a key, a bearer token, a
``key=`` parameter, a JWT or a long random-looking token becomes ``[redacted]``.
"""

from __future__ import annotations

import json
import re

REDACTED = "[redacted]"
_PATTERNS = [
    # key=..., api_key: ..., "token": "..." (the name is kept, the value goes)
    re.compile(r"(?i)\b((?:api[_-]?)?key|token|secret|password|passwd|signature|sig|access[_-]?token|auth)"
               r"(\"?\s*[=:]\s*\"?)([^\s&\"',;]+)"),
    re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]+)"),
    re.compile(r"()()\bsk-[A-Za-z0-9_*-]{6,}"),                      # OpenAI, Anthropic, spendtag keys
    re.compile(r"()()\bAIza[0-9A-Za-z_-]{20,}"),                      # Google API keys
    re.compile(r"()()\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"),   # JWTs
    re.compile(r"()()\b(?:xox[abposr]|gh[pousr]|glpat)[-_][A-Za-z0-9_-]{8,}"),       # Slack, GitHub, GitLab
    re.compile(r"()()\b[0-9a-fA-F]{32,}\b"),                          # long hex
    re.compile(r"()()(?<![A-Za-z0-9+/_-])(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Za-z])"
               r"[A-Za-z0-9+/_-]{32,}={0,2}"),                        # long base64-like runs
]


def redact(text: str) -> str:
    """``text`` with everything that looks like a credential replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) or "") + (m.group(2) or "") + REDACTED, text)
    return text


def error_summary(body: bytes | str, limit: int = 200) -> str:
    """A provider error body as one short, redacted line: its type and code, then its message.

    OpenAI ``{"error": {"type", "code", "message"}}``, Anthropic ``{"type": "error", "error":
    {"type", "message"}}``, Gemini ``{"error": {"status", "code", "message"}}``; anything else
    is its text, on one line."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    parts: list[str] = []
    message = ""
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        for name in ("type", "status", "code"):
            value = err.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value) not in parts:
                parts.append(str(value))
        found = err.get("message")
        message = found if isinstance(found, str) else ""
    elif isinstance(err, str):
        message = err
    elif obj is None:
        message = raw
    text = redact(" ".join(message.split()))
    head = " ".join(redact(p) for p in parts)
    line = f"{head}: {text}" if head and text else head or text
    return line if len(line) <= limit else line[:limit - 1] + "…"
