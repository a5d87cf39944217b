"""Errors the proxy itself answers, each in the shape of the API the client speaks."""

from __future__ import annotations

import json

from spendtag.server.proxy.config import Kind

_OPENAI_TYPE = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
                404: "invalid_request_error", 415: "invalid_request_error", 429: "rate_limit_exceeded",
                500: "server_error", 502: "server_error", 504: "server_error"}
_OPENAI_CODE = {401: "invalid_api_key", 429: "budget_exceeded", 403: "unpriced_model"}
_ANTHROPIC_TYPE = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 415: "invalid_request_error", 429: "rate_limit_error", 500: "api_error",
                   502: "api_error", 504: "timeout_error"}
_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE",
                  504: "DEADLINE_EXCEEDED"}


def error_body(kind: Kind, status: int, message: str, code: str | None = None) -> bytes:
    """OpenAI ``{"error": {...}}``, Anthropic ``{"type": "error", ...}`` or Gemini ``{"error": {"code": ...}}``."""
    if kind == "anthropic":
        obj: dict[str, object] = {"type": "error", "error": {"type": _ANTHROPIC_TYPE.get(status, "api_error"),
                                                             "message": message}}
    elif kind == "gemini":
        obj = {"error": {"code": status, "message": message, "status": _GEMINI_STATUS.get(status, "UNKNOWN")}}
    else:
        obj = {"error": {"message": message, "type": _OPENAI_TYPE.get(status, "server_error"), "param": None,
                         "code": code or _OPENAI_CODE.get(status)}}
    return json.dumps(obj).encode()
